import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import Provider, { errors } from 'oidc-provider';
import type { Adapter, Client, KoaContextWithOIDC } from 'oidc-provider';
import { DEFAULT_REFRESH_GRACE_SECONDS, DEFAULT_REFRESH_TOKEN_TTL } from './protocol-metadata.js';
import { onEnginePath } from './engine-paths.js';
import { pooledRandomBytes } from './random-pool.js';

/**
 * Refresh tokens for every client (docs/protocol.md#refresh-tokens):
 *
 * - **Rotation** (`refresh_token_rotation`, default `always`): each refresh
 *   returns a new refresh token and uses up the old one; presenting a used-up
 *   token revokes the whole grant (the engine's reuse detection, RFC 9700
 *   §4.14.2). `never` keeps one token per family, for confidential clients
 *   that cannot store a new one.
 * - **Lifetimes**: `refresh_token_ttl` is absolute (from the first token of the
 *   family, its `iiat`), `refresh_token_idle_ttl` ends a family left unused;
 *   each use slides the idle window, never past the absolute end.
 * - **Grace period** (`refresh_token_grace_period`, default 10 s): two tabs or
 *   retries refreshing with the same token at once must not look like theft.
 *   The same rotated-out token presented again by the same client within the
 *   window returns the same new refresh token (with a fresh access token), as
 *   Ory Hydra does, instead of revoking. The link old → new is kept for the
 *   window only, in the engine's store under `RefreshRotation` (through the
 *   adapter, so it is keyed like every other artefact), with the new token
 *   encrypted under a key derived from the old token's value: the row alone
 *   never yields a usable token.
 */

type Meta = Record<string, unknown>;
const metaOf = (client: unknown): Meta => (client ?? {}) as Meta;
const now = () => Math.floor(Date.now() / 1000);

/** The absolute and idle lifetimes of a client's refresh token families, in seconds. */
export function refreshLifetimes(client: unknown): { absolute: number; idle?: number } {
  const m = metaOf(client);
  const absolute = typeof m.refresh_token_ttl === 'number' && m.refresh_token_ttl > 0 ? m.refresh_token_ttl : DEFAULT_REFRESH_TOKEN_TTL;
  const idle = typeof m.refresh_token_idle_ttl === 'number' && m.refresh_token_idle_ttl > 0 ? m.refresh_token_idle_ttl : undefined;
  return { absolute, ...(idle ? { idle } : {}) };
}

function graceSeconds(client: unknown): number {
  const g = metaOf(client).refresh_token_grace_period;
  return typeof g === 'number' && g >= 0 ? g : DEFAULT_REFRESH_GRACE_SECONDS;
}

interface FamilyToken { iiat?: number; exp?: number }

/** How long a refresh token (new, or the successor of a rotated one) lives: the idle window, never past the family's absolute end. */
export function refreshTokenTtl(ctx: KoaContextWithOIDC | undefined, token: FamilyToken, client: unknown): number {
  const { absolute, idle } = refreshLifetimes(client ?? ctx?.oidc?.client);
  const t = now();
  const left = (typeof token.iiat === 'number' ? token.iiat : t) + absolute - t;
  return Math.max(1, Math.min(idle ?? absolute, left));
}

type Token = FamilyToken & {
  jti: string; consume(): Promise<void>; consumed?: number; clientId?: string; grantId?: string; accountId?: string; isExpired: boolean; client?: Client; save(): Promise<string>;
};

/**
 * A grant must outlive the refresh tokens issued under it (the engine refuses
 * a refresh once its grant is gone; grants live as long as a session, 14
 * days). When a new family starts (a code, a password grant… not a
 * rotation), its grant is kept at least until the family's absolute end.
 */
async function extendGrant(provider: Provider, token: Token, ctx: KoaContextWithOIDC | undefined): Promise<void> {
  if (!token.grantId) return;
  const end = (token.iiat ?? now()) + refreshLifetimes(token.client ?? ctx?.oidc?.client).absolute;
  const grant = await provider.Grant.find(token.grantId);
  if (!grant || (grant.exp ?? 0) >= end) return;
  grant.exp = end;
  await grant.save();
}

const isRefreshGrant = (ctx: KoaContextWithOIDC | undefined): ctx is KoaContextWithOIDC =>
  ctx?.oidc?.route === 'token' && ctx.oidc.params?.grant_type === 'refresh_token';

/** How long to wait for a concurrent rotation of the same token to record its successor. */
const RECORD_WAIT_MS = 1500;
const RECORD_POLL_MS = 50;


/** The engine adapter of a model, with the payload store's atomic claim (adapter.ts). */
type ClaimingAdapter = Adapter & { consumeOnce?(id: string): Promise<boolean> };
type RefreshTokenModel = { find(value: string, opts?: object): Promise<Token | undefined>; prototype: Token };

export interface RefreshPolicy {
  /** The engine's `rotateRefreshToken` (configuration). */
  rotateRefreshToken(ctx: KoaContextWithOIDC): Promise<boolean>;
  /** Installs the grace period and the grant extension on the built engine; `tokenPath` is the token endpoint's (ROUTES.token). */
  install(provider: Provider, tokenPath: string): void;
}

/**
 * The refresh policy over the engine's adapters: `RefreshToken` (its atomic
 * claim) and `RefreshRotation` (the old → new links of the grace period).
 */
export function createRefreshPolicy(adapters: (model: string) => Adapter): RefreshPolicy {
  const rotations = adapters('RefreshRotation');
  const tokens = adapters('RefreshToken') as ClaimingAdapter;
  /** Requests answered with an existing successor instead of a new token: the successor's value. */
  const graceRequests = new WeakMap<object, string>();
  /**
   * Requests whose atomic claim already marked the presented token used: the
   * token's id. The engine consumes the token right after `rotateRefreshToken`
   * answers true; that second write of the same column is skipped (one
   * statement, and on PostgreSQL one commit, per refresh: issue 20).
   */
  const claimed = new WeakMap<object, string>();

  /** For a used-up token presented again by its client within the window: the live successor's value; otherwise undefined (reuse). */
  async function liveSuccessor(ctx: KoaContextWithOIDC, token: Token, value: string): Promise<string | undefined> {
    if (token.clientId !== ctx.oidc.client?.clientId) return undefined;
    const grace = graceSeconds(ctx.oidc.client);
    if (grace === 0) return undefined;
    const successor = await successorOf(rotations, token, value, grace);
    if (!successor) return undefined;
    const next = await (ctx.oidc.provider.RefreshToken as unknown as RefreshTokenModel).find(successor, { ignoreExpiration: true });
    // Only a live successor of the same grant: if it was itself used (or revoked), this is reuse.
    if (!next || next.consumed || next.isExpired || next.grantId !== token.grantId) return undefined;
    return successor;
  }

  return {
    /**
     * Always rotate, unless the client says `never` (then the idle window
     * slides on the token itself) or this is a grace-period repeat (the
     * successor is returned as it is). Two requests rotating the same token
     * at once (two tabs, two instances): the store's atomic claim lets one
     * rotate; the other waits for that one's successor and answers with it.
     */
    async rotateRefreshToken(ctx) {
      if (graceRequests.has(ctx)) return false;
      const { RefreshToken: found, Client: client } = ctx.oidc.entities;
      const token = found as unknown as Token | undefined;
      if (metaOf(client).refresh_token_rotation === 'never') {
        const { absolute, idle } = refreshLifetimes(client);
        if (token && idle) {
          const end = Math.min(now() + idle, (token.iiat ?? now()) + absolute);
          if (end > (token.exp ?? 0)) {
            token.exp = end;
            await token.save();
          }
        }
        return false;
      }
      if (!token || !tokens.consumeOnce) return true;
      if (await tokens.consumeOnce(token.jti)) {
        claimed.set(ctx, token.jti);
        return true;
      }
      const successor = await liveSuccessor(ctx, { ...token, consumed: now() } as Token, ctx.oidc.params!.refresh_token as string);
      if (!successor) throw new errors.InvalidGrant('refresh token already used');
      graceRequests.set(ctx, successor);
      return false;
    },

    install(provider, tokenPath) {
      const RT = provider.RefreshToken as unknown as RefreshTokenModel;
      const find = RT.find.bind(RT);

      const consume = RT.prototype.consume;
      RT.prototype.consume = async function consumeUnlessClaimed(this: Token & { emit(event: string): void }) {
        const ctx = Provider.ctx;
        if (!ctx || claimed.get(ctx) !== this.jti) return consume.call(this);
        claimed.delete(ctx);
        this.emit('consumed'); // what the engine's consume does after its write
      };

      const save = RT.prototype.save;
      RT.prototype.save = async function saveAndLink(this: Token) {
        const issued = !this.jti;
        const value = await save.call(this);
        const ctx = Provider.ctx;
        const rotated = ctx?.oidc?.entities.RotatedRefreshToken as unknown as Token | undefined;
        if (issued && !rotated) await extendGrant(provider, this, ctx);
        if (isRefreshGrant(ctx) && rotated && rotated !== this && graceSeconds(ctx.oidc.client) > 0) {
          const old = ctx.oidc.params!.refresh_token as string;
          await rotations.upsert(rotated.jti, {
            successor: seal(old, value), at: Date.now(), clientId: rotated.clientId, accountId: rotated.accountId,
          } as never, graceSeconds(ctx.oidc.client) + 5);
        }
        return value;
      };

      RT.find = async function findWithGrace(value: string, opts?: object) {
        const token = await find(value, opts);
        const ctx = Provider.ctx;
        if (!token?.consumed || !isRefreshGrant(ctx) || ctx.oidc.params!.refresh_token !== value) return token;
        const successor = await liveSuccessor(ctx, token, value);
        if (!successor) return token;
        graceRequests.set(ctx, successor);
        return (await find(successor, opts)) ?? token;
      };

      // The refresh grant answers with the value it was given when it does not rotate: name the successor instead.
      // Only a POST to the token endpoint can be a refresh grant: other requests are handed on without an async frame.
      provider.use((ctx, next) => {
        if (ctx.method !== 'POST' || !onEnginePath(ctx.path, tokenPath)) return next();
        return next().then(() => {
          const successor = graceRequests.get(ctx);
          const body = ctx.body as { refresh_token?: string } | undefined;
          if (successor && body && typeof body === 'object' && body.refresh_token) body.refresh_token = successor;
        });
      });
    },
  };
}

/** The successor's value, when the token was rotated out within the grace window (waiting briefly for a rotation still being recorded). */
async function successorOf(rotations: Adapter, token: { jti: string; consumed?: number }, value: string, grace: number): Promise<string | undefined> {
  const deadline = Date.now() + RECORD_WAIT_MS;
  for (;;) {
    const record = (await rotations.find(token.jti)) as { successor?: string; at?: number } | undefined;
    if (record?.successor && typeof record.at === 'number') {
      return record.at + grace * 1000 >= Date.now() ? open(value, record.successor) : undefined;
    }
    // Consumed (whole seconds) just now but not recorded yet: a concurrent refresh is between its two writes.
    const justConsumed = typeof token.consumed === 'number' && token.consumed * 1000 >= Date.now() - 3000;
    if (!justConsumed || Date.now() >= deadline) return undefined;
    await sleep(RECORD_POLL_MS);
  }
}

/**
 * AES-256-GCM under a key derived from the old token's value: only its holder can read the successor.
 * HKDF-SHA256 (RFC 5869; salt `tessera`, info `refresh-token successor`, 32 bytes) written as its two
 * HMACs, extract then the one expand block: the same key as `hkdfSync`, at about half its cost (a
 * refresh's profile showed `hkdfSync`'s job set-up, issue 20).
 */
export function keyFor(oldValue: string): Buffer {
  const prk = createHmac('sha256', 'tessera').update(oldValue, 'utf8').digest();
  return createHmac('sha256', prk).update('refresh-token successor\u0001', 'utf8').digest();
}

function seal(oldValue: string, successor: string): string {
  const iv = pooledRandomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyFor(oldValue), iv);
  const ct = Buffer.concat([cipher.update(successor, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64url');
}

function open(oldValue: string, sealed: string): string | undefined {
  try {
    const raw = Buffer.from(sealed, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', keyFor(oldValue), raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
