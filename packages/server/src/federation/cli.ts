import { parseArgs } from 'node:util';
import type { TesseraApp } from '../app.js';
import { ClientKeyStore, DEFAULT_OVERLAP_SECONDS, MAX_OVERLAP_SECONDS } from './client-keys.js';
import type { ClientKeySummary } from './client-keys.js';
import { clientJwksPath, usesClientKeys } from './client-key-routes.js';

export const PROVIDER_KEYS_USAGE = 'tessera providers keys --provider ALIAS';
export const PROVIDER_ROTATE_USAGE = 'tessera providers rotate-key --provider ALIAS [--stage] [--overlap SECONDS]';

const line = (k: ClientKeySummary) => `${k.kid}  ${k.alg}  ${k.status.padEnd(8)}  created ${k.created_at}${k.retire_at ? `  unpublished after ${k.retire_at}` : ''}`;

/**
 * `tessera providers keys` and `tessera providers rotate-key`: a provider's
 * private_key_jwt client keys (docs/federation.md#rotating-the-key), for
 * operators without the admin API at hand. Same rules as the admin API's
 * rotation (audited as identity_provider.key_rotated, `via: cli`). Exit
 * codes: 0 done, 2 usage, unknown provider or one without private_key_jwt.
 */
export interface ProviderKeysArgs {
  action: 'list' | 'rotate';
  provider: string;
  stage: boolean;
  overlap: number;
}

/** The command's arguments, checked before the app starts (a usage error costs no boot); undefined after printing the usage. */
export function parseProviderKeysArgs(action: 'list' | 'rotate', args: string[]): ProviderKeysArgs | undefined {
  const usage = action === 'list' ? PROVIDER_KEYS_USAGE : PROVIDER_ROTATE_USAGE;
  const { values } = parseArgs({ args, options: { provider: { type: 'string' }, ...(action === 'rotate' ? { stage: { type: 'boolean' }, overlap: { type: 'string' } } : {}) } });
  const v = values as { provider?: string; stage?: boolean; overlap?: string };
  const overlap = v.overlap === undefined ? DEFAULT_OVERLAP_SECONDS : /^\d{1,7}$/.test(v.overlap) ? Number(v.overlap) : NaN;
  if (!v.provider || !(overlap >= 0 && overlap <= MAX_OVERLAP_SECONDS)) {
    console.error(`usage: ${usage}  (--overlap: 0-${MAX_OVERLAP_SECONDS}, default ${DEFAULT_OVERLAP_SECONDS})`);
    return undefined;
  }
  return { action, provider: v.provider, stage: v.stage === true, overlap };
}

export async function providerKeysCommand(app: TesseraApp, v: ProviderKeysArgs): Promise<number> {
  const { action } = v;
  const p = await app.platform.identityProviders.get(v.provider);
  if (!p || !usesClientKeys(p)) {
    console.error(`tessera providers: ${p ? `${v.provider} does not use client_auth: private_key_jwt` : `no identity provider ${v.provider}`}`);
    return 2;
  }
  const keys = new ClientKeyStore(app.platform.db, app.platform.kek);
  let items: ClientKeySummary[];
  if (action === 'rotate') {
    items = await keys.rotate(p.alias, { stage: v.stage, overlapSeconds: v.overlap });
    const kid = items.find((k) => k.status === (v.stage ? 'next' : 'active'))?.kid ?? null;
    await app.platform.events.emit({
      type: 'identity_provider.key_rotated', tenantId: p.tenants[0] ?? null, subjectId: p.alias, context: {},
      data: { target: 'identity_provider', stage: v.stage, kid, via: 'cli' },
    }, (err) => app.log.error({ err }, 'event listener failed'));
    console.log(v.stage
      ? 'staged: the next key is published and signs nothing yet; register it where the upstream pins keys, then rotate again'
      : 'rotated: the new key signs from now on; the previous one stays published for the overlap');
  } else {
    items = await keys.list(p.alias);
  }
  console.log(`JWKS URL: ${app.platform.settings.issuer}${clientJwksPath(p.alias)}`);
  for (const k of items) console.log(line(k));
  return 0;
}
