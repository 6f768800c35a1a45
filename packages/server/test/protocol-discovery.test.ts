/**
 * Discovery advertises exactly what docs/protocol.md says is supported
 * (issue 21, "done means"): the status table, the endpoints table, the grants
 * table and the client authentication methods are read from the document and
 * compared with the live `/.well-known/openid-configuration`. Every row of
 * the status table needs its evidence here, every discovery member must
 * belong to a supported row (a feature switched on in the engine without a
 * documented row fails), features listed as off are absent and their
 * endpoints answer 404, and each per-client setting the table names is a
 * field of the client schema (configuration file and admin API) and of the
 * console's client form.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { baseConfig } from './fixtures.js';
import { clientSchema } from '../src/config/schema.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const DOC = readFileSync(`${ROOT}/docs/protocol.md`, 'utf8');
const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

type Meta = Record<string, unknown>;

/** The rows of the first Markdown table after `heading` (cells trimmed, header and rule dropped). */
function table(heading: string): string[][] {
  const start = DOC.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`docs/protocol.md has no heading ${heading}`);
  const lines = DOC.slice(start).split('\n');
  const first = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.slice(1, -1).split(' | ').map((c) => c.trim()));
  }
  return rows;
}

/** Backticked words of a cell. */
const ticked = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

interface Evidence {
  /** Discovery members this row accounts for (supported rows only). */
  members: string[];
  check(meta: Meta): void;
  /** The row says the feature is off (its status starts with "off"): the checks prove its absence. */
  off?: true;
  /** Off rows: endpoints that must answer 404. */
  gone?: string[];
}

const grants = (meta: Meta) => meta.grant_types_supported as string[];
const sorted = (v: unknown) => [...(v as string[])].sort();

/** Members every OpenID provider publishes, whatever it supports. */
const CORE = ['issuer', 'jwks_uri', 'userinfo_endpoint', 'scopes_supported', 'subject_types_supported', 'grant_types_supported',
  'token_endpoint_auth_methods_supported', 'token_endpoint_auth_signing_alg_values_supported'];

/** Keyed by the status table's first column, exactly as written there. */
const EVIDENCE: Record<string, Evidence> = {
  'Authorization code + PKCE S256': {
    members: ['authorization_endpoint', 'token_endpoint', 'code_challenge_methods_supported', 'response_types_supported',
      'response_modes_supported', 'authorization_response_iss_parameter_supported'],
    check(meta) {
      expect(meta.code_challenge_methods_supported).toEqual(['S256']);
      expect(meta.response_types_supported).toEqual(['code']);
      expect(sorted(meta.response_modes_supported)).toEqual(['form_post', 'fragment', 'query']);
      expect(meta.authorization_response_iss_parameter_supported).toBe(true);
      expect(grants(meta)).toContain('authorization_code');
    },
  },
  'Refresh tokens (rotation, reuse detection, grace period)': {
    members: [],
    check: (meta) => {
      expect(grants(meta)).toContain('refresh_token');
      expect(meta.scopes_supported).toContain('offline_access');
    },
  },
  'Client credentials': { members: [], check: (meta) => expect(grants(meta)).toContain('client_credentials') },
  // No discovery member describes these (RFC 8707 and RFC 9068 define none); the token tests cover them.
  'Resource indicators (RFC 8707), JWT access tokens (RFC 9068), opaque tokens': { members: [], check: () => {} },
  'Client metadata: signing algorithms, signed UserInfo, logo/policy/terms, `default_max_age`, `require_auth_time`': {
    members: ['id_token_signing_alg_values_supported', 'userinfo_signing_alg_values_supported'],
    check(meta) {
      expect(sorted(meta.id_token_signing_alg_values_supported)).toEqual(['ES256', 'RS256']);
      expect(sorted(meta.userinfo_signing_alg_values_supported)).toEqual(['ES256', 'RS256']);
    },
  },
  '`claims` request parameter (OIDC Core §5.5)': {
    members: ['claims_parameter_supported', 'claims_supported', 'claim_types_supported'],
    check(meta) {
      expect(meta.claims_parameter_supported).toBe(true);
      expect(meta.claim_types_supported).toEqual(['normal']);
    },
  },
  '`acr_values`, step-up (RFC 9470)': {
    members: ['acr_values_supported'],
    check: (meta) => expect(meta.acr_values_supported).toEqual(['urn:tessera:acr:pwd', 'urn:tessera:acr:mfa']),
  },
  'Introspection (RFC 7662), revocation (RFC 7009)': { members: ['introspection_endpoint', 'revocation_endpoint'], check: () => {} },
  'RP-initiated and back-channel logout': {
    members: ['end_session_endpoint', 'backchannel_logout_supported', 'backchannel_logout_session_supported'],
    check(meta) {
      expect(meta.backchannel_logout_supported).toBe(true);
      expect(meta.backchannel_logout_session_supported).toBe(true);
      // Front-channel logout and session management are not offered.
      expect(meta).not.toHaveProperty('frontchannel_logout_supported');
      expect(meta).not.toHaveProperty('check_session_iframe');
    },
  },
  'Password grant (RFC 6749 §4.3)': { members: [], check: (meta) => expect(grants(meta)).toContain('password') },
  'Pushed authorization requests (RFC 9126)': {
    members: ['pushed_authorization_request_endpoint'],
    // Offered to every client, required only per client (require_pushed_authorization_requests).
    check: (meta) => expect(meta.require_pushed_authorization_requests ?? false).toBe(false),
  },
  'DPoP (RFC 9449)': {
    members: ['dpop_signing_alg_values_supported'],
    check: (meta) => expect(sorted(meta.dpop_signing_alg_values_supported)).toEqual(['ES256', 'EdDSA', 'PS256', 'RS256']),
  },
  'Device authorization (RFC 8628)': { members: ['device_authorization_endpoint'], check: (meta) => expect(grants(meta)).toContain(DEVICE) },
  'Token exchange (RFC 8693)': { members: [], check: (meta) => expect(grants(meta)).toContain(EXCHANGE) },
  'Implicit and hybrid flows': {
    off: true,
    members: [],
    check(meta) {
      expect(meta.response_types_supported).toEqual(['code']);
      expect(grants(meta)).not.toContain('implicit');
    },
  },
  'CIBA, dynamic client registration, request objects (JAR), JARM, mTLS, RAR': {
    off: true,
    // The engine states request_uri support as false (JAR's request_uri; PAR's own request_uri is not this).
    members: ['request_uri_parameter_supported'],
    check(meta) {
      for (const absent of ['backchannel_authentication_endpoint', 'backchannel_token_delivery_modes_supported', 'registration_endpoint',
        'request_object_signing_alg_values_supported', 'authorization_signing_alg_values_supported', 'tls_client_certificate_bound_access_tokens',
        'mtls_endpoint_aliases', 'authorization_details_types_supported']) expect(meta, absent).not.toHaveProperty(absent);
      expect(meta.request_parameter_supported ?? false).toBe(false);
      expect(meta.request_uri_parameter_supported).toBe(false);
    },
    gone: ['/oidc/reg', '/oidc/backchannel'],
  },
};

const STATUS = table('## Status of every grant and feature');
const supported = (row: string[]) => !row[1]!.startsWith('off');

let t: TestApp;
let meta: Meta;
beforeAll(async () => {
  t = await startTestApp({ config: baseConfig });
  meta = await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json() as Meta;
});
afterAll(async () => {
  await t?.close();
});

describe('discovery matches docs/protocol.md', () => {
  test('every row of the status table has its evidence, and only those rows', () => {
    expect(STATUS.length).toBeGreaterThan(10);
    expect(STATUS.map((r) => r[0]).sort()).toEqual(Object.keys(EVIDENCE).sort());
  });

  test.each(STATUS.map((r) => [r[0]!, r]))('%s: as documented', async (_name, row) => {
    const evidence = EVIDENCE[row[0]!]!;
    // The documented status and the evidence agree on whether the feature is on.
    expect(supported(row)).toBe(evidence.off !== true);
    evidence.check(meta);
    if (supported(row)) {
      for (const m of evidence.members) expect(meta, m).toHaveProperty(m);
    }
    for (const path of evidence.gone ?? []) {
      const res = await fetch(`${t.issuer}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(res.status, path).toBe(404);
    }
  });

  test('exactly: every discovery member belongs to the core or to a documented row', () => {
    const accounted = new Set([...CORE, ...STATUS.flatMap((r) => EVIDENCE[r[0]!]?.members ?? [])]);
    expect(Object.keys(meta).filter((k) => !accounted.has(k))).toEqual([]);
    expect([...accounted].filter((k) => !(k in meta))).toEqual([]);
  });

  test('the grants table lists exactly the advertised grants', () => {
    const documented = table('## Grants and client authentication').map((r) => ticked(r[0]!)[0]);
    expect(documented.sort()).toEqual(sorted(meta.grant_types_supported));
  });

  test('client authentication: the documented methods are the advertised ones', () => {
    const section = DOC.slice(DOC.indexOf('Client authentication at the token, introspection and revocation endpoints:'));
    const bullets = section.split('\n\n')[1]!.split('\n').filter((l) => l.startsWith('- `'));
    const documented = bullets.flatMap((l) => ticked(l.slice(0, l.indexOf(':'))));
    expect(documented.sort()).toEqual(sorted(meta.token_endpoint_auth_methods_supported));
  });

  test('the endpoints table names every advertised endpoint, and only those (plus the /device page)', () => {
    const rows = table('## Endpoints');
    const paths = rows.map((r) => ticked(r[2]!)[0]!);
    const advertised = Object.entries(meta).filter(([k]) => k.endsWith('_endpoint') || k === 'jwks_uri').map(([, v]) => new URL(v as string).pathname);
    expect(paths.filter((p) => p.startsWith('/oidc/')).sort()).toEqual(advertised.sort());
    expect(paths.filter((p) => !p.startsWith('/oidc/')).sort()).toEqual(['/.well-known/openid-configuration', '/device']);
  });

  test('every advertised scope and claim is documented', () => {
    for (const name of [...meta.scopes_supported as string[], ...meta.claims_supported as string[]]) expect(DOC, name).toContain(`\`${name}\``);
  });

  test('each per-client setting of the status table is a client field (file, admin API) and in the console\'s client form', () => {
    const schemaFields = new Set(Object.keys(clientSchema.shape));
    const consoleDir = `${ROOT}/packages/console/src/views`;
    const form = readdirSync(consoleDir).filter((f) => f.startsWith('clients')).map((f) => readFileSync(`${consoleDir}/${f}`, 'utf8')).join('\n');
    const settings = STATUS.flatMap((r) => ticked(r[2] ?? ''));
    expect(settings.length).toBeGreaterThan(15);
    for (const setting of settings) {
      const grant = /^grant_types: \[(.+)\]$/.exec(setting);
      if (grant) {
        // A grant a client opts into: a value the form's grant checkboxes offer.
        expect(form, setting).toMatch(new RegExp(`'${grant[1]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'`));
        continue;
      }
      expect(schemaFields, setting).toContain(setting);
      // A field the form edits: a control of that name (or, for the token exchange policy, its parts).
      expect(form, setting).toMatch(new RegExp(`name="${setting}(_[a-z_]+)?"`));
    }
  });
});
