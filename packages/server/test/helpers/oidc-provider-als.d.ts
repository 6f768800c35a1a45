// The engine's request context (oidc-provider reads `Provider.ctx` from it); the package has no types for the file.
declare module 'oidc-provider/lib/helpers/als.js' {
  import type { AsyncLocalStorage } from 'node:async_hooks';
  const als: AsyncLocalStorage<unknown>;
  export default als;
}
