import type { Dispatcher } from 'undici';
import { fetchJson, IssuerUnavailableError } from './issuer.js';

/** The issuer's answer about one token (RFC 7662 §2.2), reduced to what the gateway acts on. */
export type IntrospectionAnswer =
  | { kind: 'active'; claims: Record<string, unknown> }
  | { kind: 'inactive' }
  /** The issuer does not introspect this kind of token (Tessera: every JWT access token). */
  | { kind: 'unsupported' };

export interface IntrospectorOptions {
  endpoint: string;
  clientId: string;
  clientSecret: string;
  dispatcher: Dispatcher;
  /** How long an answer is reused; short, so a revocation takes effect within it. */
  cacheTtlMs: number;
  timeoutMs: number;
  maxEntries?: number;
  now?: () => number;
}

/** RFC 6749 §2.3.1: client_id and secret are form-encoded before Basic encoding. */
const formEncode = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');

/**
 * Asks the issuer's introspection endpoint whether a token is active, with the
 * gateway's own client credentials. Answers are cached for at most
 * `cacheTtlMs` (and never past the token's `exp`); concurrent questions about
 * the same token share one request.
 */
export class Introspector {
  private readonly cache = new Map<string, { answer: IntrospectionAnswer; until: number }>();
  private readonly inflight = new Map<string, Promise<IntrospectionAnswer>>();
  private readonly authorization: string;
  private readonly now: () => number;

  constructor(private readonly opts: IntrospectorOptions) {
    this.authorization = `Basic ${Buffer.from(`${formEncode(opts.clientId)}:${formEncode(opts.clientSecret)}`).toString('base64')}`;
    this.now = opts.now ?? Date.now;
  }

  /** @throws IssuerUnavailableError when the endpoint is unreachable or refuses the gateway itself. */
  async introspect(token: string): Promise<IntrospectionAnswer> {
    const now = this.now();
    const hit = this.cache.get(token);
    if (hit && now < hit.until) return hit.answer;
    if (hit) this.cache.delete(token);
    let pending = this.inflight.get(token);
    if (!pending) {
      pending = this.ask(token).finally(() => this.inflight.delete(token));
      this.inflight.set(token, pending);
    }
    const answer = await pending;
    this.remember(token, answer, now);
    return answer;
  }

  private remember(token: string, answer: IntrospectionAnswer, now: number): void {
    if (this.opts.cacheTtlMs <= 0) return;
    const max = this.opts.maxEntries ?? 10_000;
    if (this.cache.size >= max) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    let until = now + this.opts.cacheTtlMs;
    const exp = answer.kind === 'active' ? answer.claims.exp : undefined;
    if (typeof exp === 'number') until = Math.min(until, exp * 1000);
    this.cache.set(token, { answer, until });
  }

  private async ask(token: string): Promise<IntrospectionAnswer> {
    const { status, json } = await fetchJson(this.opts.dispatcher, this.opts.endpoint, {
      method: 'POST',
      timeoutMs: this.opts.timeoutMs,
      headers: { authorization: this.authorization, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
    });
    const body = (json ?? {}) as Record<string, unknown>;
    if (status === 200 && typeof body.active === 'boolean') {
      return body.active ? { kind: 'active', claims: body } : { kind: 'inactive' };
    }
    // RFC 7009 §2.2.1's error, which oidc-provider also answers at introspection for any JWT.
    if (status === 400 && body.error === 'unsupported_token_type') return { kind: 'unsupported' };
    // invalid_client and the like: the gateway is misconfigured, not the caller's token.
    throw new IssuerUnavailableError(`introspection answered ${status}${typeof body.error === 'string' ? ` ${body.error}` : ''}`);
  }
}
