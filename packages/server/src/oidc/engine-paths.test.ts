import { describe, expect, it } from 'vitest';
import { onEnginePath, underEnginePath } from './engine-paths.js';

// The engine's router matches case-insensitively and with one trailing slash (oidc-provider helpers/router.js):
// a guard that skips a middleware must match every such spelling, or the middleware would miss requests it acts on.
describe('engine path guards', () => {
  it('match a route in any case and with one trailing slash', () => {
    for (const path of ['/oidc/token', '/OIDC/TOKEN', '/oidc/Token', '/oidc/token/']) expect(onEnginePath(path, '/oidc/token'), path).toBe(true);
    for (const path of ['/oidc/token/introspection', '/oidc/toke', '/oidc/token//', '/oidc/tokenx', '/oidc/me', '/']) expect(onEnginePath(path, '/oidc/token'), path).toBe(false);
  });

  it('match a prefix in any case', () => {
    for (const path of ['/oidc/auth/abc', '/OIDC/AUTH/abc', '/oidc/auth/']) expect(underEnginePath(path, '/oidc/auth/'), path).toBe(true);
    for (const path of ['/oidc/auth', '/oidc/authx/abc', '/oidc/me']) expect(underEnginePath(path, '/oidc/auth/'), path).toBe(false);
  });
});
