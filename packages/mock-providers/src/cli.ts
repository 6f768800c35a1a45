import { parseArgs } from 'node:util';
import { loadMockFile } from './config-file.js';
import { PersonaError, type PersonaInput } from './personas.js';
import type { MockClient, MockProviders } from './server.js';
import type { SamlServiceProvider } from './saml.js';
import { scenariosFor } from './scenarios.js';
import { PRODUCTION_REFUSAL } from './refusal.js';

export const MOCK_USAGE = `usage: tessera mock-providers [--port 4000] [--host 127.0.0.1] [--public-url URL]
                              [--personas FILE] [--local-email EMAIL] [--slow-ms MS]
                              [--tessera-url URL] [--redirect-uri URI ...]
                              [--ldap-port 3890] [--ldaps-port 6360 | --no-ldaps] [--no-ldap]

Mock Google, Facebook, Entra ID, Keycloak, an LDAP directory and a SAML IdP for development
(docs/mock-providers.md). Refuses to start with NODE_ENV=production.`;

/**
 * `tessera mock-providers`: runs until SIGINT/SIGTERM. Returns the exit code
 * (1: refused or failed to start, 2: bad arguments).
 */
export async function runMockProvidersCli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (env.NODE_ENV === 'production') {
    console.error(`tessera mock-providers: ${PRODUCTION_REFUSAL}`);
    return 1;
  }
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        port: { type: 'string', default: env.MOCK_PROVIDERS_PORT ?? '4000' },
        host: { type: 'string', default: '127.0.0.1' },
        'public-url': { type: 'string' },
        personas: { type: 'string' },
        'local-email': { type: 'string' },
        'slow-ms': { type: 'string', default: '10000' },
        'tessera-url': { type: 'string', default: env.TESSERA_ISSUER ?? 'http://localhost:3000' },
        'redirect-uri': { type: 'string', multiple: true, default: [] },
        'ldap-port': { type: 'string', default: '3890' },
        'no-ldap': { type: 'boolean', default: false },
        'ldaps-port': { type: 'string', default: '6360' },
        'no-ldaps': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    console.error(`tessera mock-providers: ${(err as Error).message}\n\n${MOCK_USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(MOCK_USAGE);
    return 0;
  }
  const port = Number(values.port);
  const slowMs = Number(values['slow-ms']);
  const ldapPort = Number(values['ldap-port']);
  const ldapsPort = Number(values['ldaps-port']);
  const badPort = (p: number) => !Number.isInteger(p) || p < 0 || p > 65535;
  if (badPort(port) || badPort(ldapPort) || badPort(ldapsPort) || !Number.isInteger(slowMs) || slowMs < 0) {
    console.error(`tessera mock-providers: --port, --ldap-port and --ldaps-port must be 0-65535 and --slow-ms a whole number of milliseconds\n\n${MOCK_USAGE}`);
    return 2;
  }
  let personas: PersonaInput[] | undefined;
  let localEmail = values['local-email'];
  let clients: MockClient[] | undefined;
  let samlServiceProviders: SamlServiceProvider[] | undefined;
  if (values.personas) {
    try {
      const file = loadMockFile(values.personas);
      personas = file.personas;
      localEmail ??= file.localEmail;
      clients = file.clients;
      samlServiceProviders = file.samlServiceProviders;
    } catch (err) {
      if (err instanceof PersonaError) {
        console.error(`tessera mock-providers: ${err.message}`);
        return 2;
      }
      throw err;
    }
  }

  // Loaded only now: the engine is not even imported when the command refuses to run.
  const { startMockProviders } = await import('./server.js');
  let mock: MockProviders;
  try {
    mock = await startMockProviders({
      port, host: values.host, publicUrl: values['public-url'], personas, localEmail, slowMs, clients,
      tesseraUrl: values['tessera-url'], env, ldap: values['no-ldap'] ? false : { port: ldapPort, ldapsPort: values['no-ldaps'] ? false : ldapsPort },
      saml: { serviceProviders: samlServiceProviders },
    });
  } catch (err) {
    console.error(`tessera mock-providers: ${(err as Error).message}`);
    return 1;
  }
  for (const uri of values['redirect-uri']!) mock.addRedirectUri('all', uri, clients?.[0]?.client_id);
  console.log(describe(mock));

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await mock.close();
  return 0;
}

/** What a developer needs to configure Tessera against the mocks, in one block. */
export function describe(mock: MockProviders): string {
  const lines = [`mock identity providers (development only) on ${mock.url}`, ''];
  for (const p of Object.values(mock.providers)) {
    lines.push(`  ${p.name.padEnd(9)} issuer ${p.issuer}`);
    if (p.name === 'facebook') {
      lines.push(`            authorization ${p.authorizationEndpoint}`, `            token ${p.tokenEndpoint}`, `            profile ${p.profileEndpoint}`);
    }
    lines.push(`            client_id ${p.clientId}, client_secret ${p.clientSecret}`);
  }
  if (mock.ldap) {
    const d = mock.ldap;
    lines.push(`  ldap      ${d.url} (plain), base ${d.baseDn}, service account ${d.bindDn} / ${d.bindPassword}`,
      ...(d.ldapsUrl ? [`            ${d.ldapsUrl} (TLS; trust the CA at ${mock.url}/ldap/ca.pem)`] : []),
      `            user filter ${d.userFilter}; scenarios per persona at ${mock.url}/ldap`);
  }
  if (mock.saml) {
    lines.push(`  saml      metadata ${mock.saml.metadataUrl}`, `            SSO ${mock.saml.ssoUrl} (HTTP-Redirect and HTTP-POST)`);
  }
  lines.push('', `  personas: ${mock.personas.map((p) => p.id).join(', ')} (local account email for duplicate/link_required: ${mock.localEmail})`);
  lines.push(`  scenarios: ${scenariosFor('google').join(', ')}`);
  lines.push(`  scripts skip the picker with login_hint=persona:scenario (e.g. login_hint=${mock.personas[0]!.id}:ok)`, '', 'Ctrl-C stops.');
  return lines.join('\n');
}
