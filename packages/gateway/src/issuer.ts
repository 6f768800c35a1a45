import { createLocalJWKSet, errors as joseErrors } from 'jose';
import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose';
import { Agent, request } from 'undici';
import type { Dispatcher } from 'undici';
import { z } from 'zod';

/**
 * Everything the gateway learns from the issuer, only through its public
 * protocol endpoints: the discovery document, the JWKS, and (for routes with
 * `introspect`) the RFC 7662 introspection endpoint.
 */

/** The issuer could not be reached or answered nonsense: requests get 503, never 401. */
export class IssuerUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IssuerUnavailableError';
  }
}

const MAX_BODY = 1024 * 1024;

/** JSON from the issuer, size-capped, with timeouts. @throws IssuerUnavailableError */
export async function fetchJson(dispatcher: Dispatcher, url: string, opts: { timeoutMs: number; method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string }): Promise<{ status: number; json: unknown }> {
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, {
      dispatcher,
      method: opts.method ?? 'GET',
      headers: { accept: 'application/json', ...opts.headers },
      body: opts.body,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    });
  } catch (err) {
    throw new IssuerUnavailableError(`${url}: ${(err as Error).message}`, { cause: err });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY) {
        res.body.destroy();
        throw new IssuerUnavailableError(`${url}: response larger than ${MAX_BODY} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof IssuerUnavailableError) throw err;
    throw new IssuerUnavailableError(`${url}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return { status: res.statusCode, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
  } catch {
    throw new IssuerUnavailableError(`${url}: answered ${res.statusCode} with a body that is not JSON`);
  }
}

const discoverySchema = z.object({
  issuer: z.string(),
  jwks_uri: z.url(),
  introspection_endpoint: z.url().optional(),
});
export type IssuerMetadata = z.infer<typeof discoverySchema>;

/**
 * Reads `/.well-known/openid-configuration` and checks that it describes the
 * configured issuer (OIDC Discovery §4.3: the `issuer` value must be identical).
 * @throws IssuerUnavailableError
 */
export async function discover(dispatcher: Dispatcher, issuer: string, timeoutMs: number): Promise<IssuerMetadata> {
  const url = `${issuer}/.well-known/openid-configuration`;
  const { status, json } = await fetchJson(dispatcher, url, { timeoutMs });
  if (status !== 200) throw new IssuerUnavailableError(`${url} answered ${status}`);
  const parsed = discoverySchema.safeParse(json);
  if (!parsed.success) throw new IssuerUnavailableError(`${url}: not a discovery document (${parsed.error.issues[0]?.message})`);
  if (parsed.data.issuer !== issuer) {
    throw new IssuerUnavailableError(`${url} describes issuer ${parsed.data.issuer}, not ${issuer}`);
  }
  return parsed.data;
}

const jwksSchema = z.object({ keys: z.array(z.looseObject({ kty: z.string() })) });

export interface KeySetOptions {
  jwksUri: string;
  dispatcher: Dispatcher;
  /** At most one refetch per this many ms when a token names an unknown `kid`. */
  cooldownMs: number;
  /** Background refetch interval, so keys the issuer unpublished stop verifying. */
  maxAgeMs: number;
  timeoutMs: number;
  /** Called after a fetch that changed the published keys. */
  onChange?: (kids: string[]) => void;
  onFetch?: (reason: 'initial' | 'unknown_kid' | 'max_age', ok: boolean) => void;
}

/**
 * The issuer's JWKS, cached. An unknown `kid` (the issuer rotated its keys)
 * triggers a refetch, but at most once per cooldown and never concurrently,
 * so a flood of tokens with made-up kids cannot turn the gateway into a
 * request amplifier against the issuer.
 */
export class KeySet {
  private local: JWTVerifyGetKey | undefined;
  private kids = '';
  private lastFetch = 0;
  private inflight: Promise<boolean> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: KeySetOptions) {}

  get loaded(): boolean {
    return this.local !== undefined;
  }

  /** Fetches now; true when a key set is loaded afterwards. Failures keep the previous keys. */
  refresh(reason: 'initial' | 'unknown_kid' | 'max_age'): Promise<boolean> {
    this.inflight ??= this.fetch(reason).finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** Starts the background refetch (unref'd: it never keeps the process alive). */
  startBackgroundRefresh(): void {
    this.timer ??= setInterval(() => void this.refresh('max_age'), this.opts.maxAgeMs).unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * jose's key resolver: the cached set, then one cooldown-limited refetch for
   * an unknown kid. @throws IssuerUnavailableError when keys are needed but
   * the issuer cannot be reached (a 503, not a 401: the token may be fine).
   */
  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    const coolingDown = () => Date.now() - this.lastFetch < this.opts.cooldownMs;
    if (!this.local) {
      if (coolingDown() || !(await this.refresh('initial').catch(() => false))) {
        throw new IssuerUnavailableError('the issuer\'s signing keys are not loaded');
      }
    }
    try {
      return await this.local!(header, token);
    } catch (err) {
      if (!(err instanceof joseErrors.JWKSNoMatchingKey)) throw err;
      // A refetch already under way (another request saw the same new kid): wait for it.
      if (this.inflight) {
        await this.inflight.catch(() => false);
        return this.local!(header, token);
      }
      if (coolingDown()) throw err;
      const before = this.local;
      await this.refresh('unknown_kid');
      if (this.local === before) throw new IssuerUnavailableError('the issuer\'s key set could not be refetched');
      return this.local!(header, token);
    }
  };

  private async fetch(reason: 'initial' | 'unknown_kid' | 'max_age'): Promise<boolean> {
    this.lastFetch = Date.now();
    try {
      const { status, json } = await fetchJson(this.opts.dispatcher, this.opts.jwksUri, { timeoutMs: this.opts.timeoutMs });
      const parsed = jwksSchema.safeParse(json);
      if (status !== 200 || !parsed.success) throw new IssuerUnavailableError(`${this.opts.jwksUri} answered ${status} without a key set`);
      // Private parts, if an issuer ever published them, are dropped: verification needs public keys only.
      const keys = parsed.data.keys.map(({ d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, k: _k, ...pub }) => pub);
      const set = { keys } as JSONWebKeySet;
      const kids = keys.map((k) => String(k.kid ?? '')).sort().join(' ');
      this.local = createLocalJWKSet(set);
      const changed = kids !== this.kids;
      this.kids = kids;
      this.opts.onFetch?.(reason, true);
      if (changed) this.opts.onChange?.(kids.split(' '));
      this.lastFetch = Date.now();
      return true;
    } catch (err) {
      this.opts.onFetch?.(reason, false);
      if (!this.local && reason === 'initial') throw err instanceof IssuerUnavailableError ? err : new IssuerUnavailableError(String(err));
      return this.local !== undefined;
    }
  }
}

/** The keep-alive agent for the gateway's own calls to the issuer. */
export function issuerAgent(): Agent {
  return new Agent({ keepAliveTimeout: 30_000, connections: 16 });
}
