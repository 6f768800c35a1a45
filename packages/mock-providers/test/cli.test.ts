import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SAML } from '@node-saml/node-saml';
import * as oidc from 'openid-client';
import { afterAll, describe, expect, it } from 'vitest';
import { PersonaError, ProductionRefusedError, loadMockFile, resolvePersonas, startMockProviders } from '../src/index.js';
import { Browser } from './helpers.js';

const TESSERA = resolve(import.meta.dirname, '../../server/bin/tessera.js');
const dir = mkdtempSync(join(tmpdir(), 'tessera-mock-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs `tessera mock-providers ARGS`; `whenReady` gets the base URL once it is listening, then it is stopped with SIGTERM. */
function run(args: string[], env: NodeJS.ProcessEnv, whenReady?: (url: string) => Promise<void>): Promise<Run & { error?: unknown }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [TESSERA, 'mock-providers', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let error: unknown;
    let started = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = stdout.match(/on (http:\/\/\S+)/);
      if (m && stdout.includes('Ctrl-C stops') && !started && whenReady) {
        started = true;
        whenReady(m[1]!).catch((e: unknown) => { error = e; }).finally(() => child.kill('SIGTERM'));
      }
    });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('exit', (code) => done({ code, stdout, stderr, error }));
  });
}

describe('tessera mock-providers', () => {
  it('refuses NODE_ENV=production with one clear line and exit code 1', async () => {
    const r = await run(['--port', '0'], { NODE_ENV: 'production' });
    expect(r.code).toBe(1);
    const ours = r.stderr.split('\n').filter((l) => l.startsWith('tessera mock-providers:'));
    expect(ours).toEqual(['tessera mock-providers: mock identity providers are a development tool: refusing to start with NODE_ENV=production']);
    expect(r.stdout).toBe('');
  });

  it('the programmatic start refuses production too', async () => {
    await expect(startMockProviders({ port: 0, env: { NODE_ENV: 'production' } })).rejects.toBeInstanceOf(ProductionRefusedError);
  });

  it('bad arguments and a bad persona file exit 2 with a message naming the problem', async () => {
    expect((await run(['--port', 'abc'], { NODE_ENV: 'development' })).code).toBe(2);
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'personas:\n  - id: Bad Id\n    name: X\n');
    const r = await run(['--port', '0', '--ldap-port', '0', '--ldaps-port', '0', '--personas', file], { NODE_ENV: 'development' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}: personas.0.id`);
  });

  it('serves personas and clients from a YAML file, prints what to configure, and stops on SIGTERM', async () => {
    const file = join(dir, 'mock.yaml');
    writeFileSync(file, [
      'local_email: owner@corp.example',
      'personas:',
      '  - id: erin',
      '    email: erin@corp.example',
      '    name: Erin Engel',
      '    tenant: corp',
      '    groups: [ops]',
      '    mfa: true',
      'clients:',
      '  - client_id: dev-app',
      '    client_secret: dev-secret-123',
      '    redirect_uris: [http://localhost:3999/federation/corp/callback]',
      'saml_service_providers:',
      '  - entity_id: http://localhost:3999/federation/adfs/saml/metadata',
      '    acs_urls: [http://localhost:3999/federation/adfs/saml/acs]',
    ].join('\n'));
    const r = await run(['--port', '0', '--ldap-port', '0', '--ldaps-port', '0', '--personas', file], { NODE_ENV: 'development' }, async (url) => {
      const config = await oidc.discovery(new URL(`${url}/entra`), 'dev-app', 'dev-secret-123', undefined, { execute: [oidc.allowInsecureRequests] });
      const redirect = 'http://localhost:3999/federation/corp/callback';
      const authUrl = oidc.buildAuthorizationUrl(config, { redirect_uri: redirect, scope: 'openid email', state: 'st', nonce: 'nn', login_hint: 'erin:link_required' });
      const out = await new Browser().run(authUrl, redirect);
      const tokens = await oidc.authorizationCodeGrant(config, out.callback!, { expectedState: 'st', expectedNonce: 'nn' });
      expect(tokens.claims()).toMatchObject({ tid: 'corp', groups: ['ops'], amr: ['pwd', 'mfa'], email: 'owner@corp.example' });
      // The SAML service provider from the file is known to the IdP: its AuthnRequest gets the picker.
      const sp = new SAML({ entryPoint: `${url}/saml/sso`, issuer: 'http://localhost:3999/federation/adfs/saml/metadata', callbackUrl: 'http://localhost:3999/federation/adfs/saml/acs', idpCert: 'unused' });
      const picker = await fetch(await sp.getAuthorizeUrlAsync('', undefined, {}));
      expect(picker.status).toBe(200);
      expect(await picker.text()).toContain('Erin Engel');
    });
    expect(r.error).toBeUndefined();
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('client_id dev-app, client_secret dev-secret-123');
    expect(r.stdout).toContain('personas: erin');
    expect(r.stdout).toMatch(/facebook\s+issuer http:\/\/127\.0\.0\.1:\d+\/facebook/);
    expect(r.stdout).toMatch(/ldap\s+ldap:\/\/127\.0\.0\.1:\d+ \(plain\), base dc=example,dc=com/);
    expect(r.stdout).toMatch(/saml\s+metadata http:\/\/127\.0\.0\.1:\d+\/saml\/metadata/);
  });
});

describe('personas', () => {
  it('a SAML service provider in the file may name its encryption certificate (PEM); anything else is refused with the field', () => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const file = join(dir, 'enc.yaml');
    const write = (cert: string) => writeFileSync(file, ['personas:', '  - id: erin', '    name: Erin', 'saml_service_providers:',
      '  - entity_id: urn:sp', '    acs_urls: [http://localhost:3999/acs]', `    encryption_certificate: ${JSON.stringify(cert)}`].join('\n'));
    write(pem);
    expect(loadMockFile(file).samlServiceProviders).toEqual([{ entityId: 'urn:sp', acsUrls: ['http://localhost:3999/acs'], encryptionCertificate: pem }]);
    write('not a certificate');
    expect(() => loadMockFile(file)).toThrow(/encryption_certificate: must be a PEM certificate/);
  });

  it('the built-in set is valid and includes a persona with the default local email', () => {
    const p = resolvePersonas(undefined);
    expect(p.map((x) => x.id)).toEqual(['alice', 'bob', 'carol', 'dave', 'local']);
    expect(p.find((x) => x.id === 'local')!.email).toBe('local.user@example.com');
  });

  it('refuses duplicate ids and unknown fields', () => {
    expect(() => resolvePersonas([{ id: 'a', name: 'A' }, { id: 'a', name: 'B' }])).toThrow(PersonaError);
    expect(() => resolvePersonas([{ id: 'a', name: 'A', colour: 'red' } as never])).toThrow(/colour|unrecognized/i);
  });
});
