import type { FastifyBaseLogger } from 'fastify';
import { BffError, ERRORS, LoginRequired, loggableError } from './errors.js';
import { oauthErrorCode } from './oidc.js';
import type { OidcClient } from './oidc.js';
import type { LoadedSession, Session, Sessions } from './session.js';

export interface RenewerDeps {
  oidc: OidcClient;
  sessions: Sessions;
  renewBeforeSeconds: number;
  now: () => number;
  log: FastifyBaseLogger;
}

/**
 * Keeps a session's access token usable. Renewal is single-flight per
 * session: concurrent requests (several tabs, parallel fetches) share one
 * refresh. Tessera rotates a confidential client's refresh token at every
 * refresh and treats reuse of a rotated token as theft (revoking the whole
 * grant) once its short grace period has passed, so parallel refreshes could
 * sign the user out (docs/protocol.md#refresh-tokens).
 *
 * The single flight is per process. Several BFF instances sharing a store
 * need a distributed lock around `refresh` (docs/bff.md).
 */
export class Renewer {
  private readonly inflight = new Map<string, Promise<Session>>();

  constructor(private readonly deps: RenewerDeps) {}

  /**
   * The session with an access token valid for at least `renewBeforeSeconds`.
   * @throws LoginRequired when the refresh token is missing, expired or revoked (the session is destroyed)
   * @throws BffError temporarily_unavailable when the platform cannot be reached and the token has expired
   */
  async fresh(loaded: LoadedSession): Promise<Session> {
    if (loaded.session.accessTokenExpiresAt - this.deps.now() > this.deps.renewBeforeSeconds * 1000) return loaded.session;
    return this.renew(loaded.key, loaded.session.accessToken);
  }

  /**
   * Renews unless another request already replaced `staleToken` (then its result is used).
   * @throws LoginRequired, BffError as for `fresh`
   */
  renew(key: string, staleToken: string): Promise<Session> {
    const running = this.inflight.get(key);
    if (running) return running;
    const flight = this.doRenew(key, staleToken).finally(() => this.inflight.delete(key));
    this.inflight.set(key, flight);
    return flight;
  }

  private async doRenew(key: string, staleToken: string): Promise<Session> {
    const { sessions, now, log } = this.deps;
    // Re-read: the stored session may have changed (logout, another renewal) since the caller loaded it.
    const current = await sessions.loadByKey(key);
    if (!current) throw new LoginRequired('session ended');
    const session = current.session;
    if (session.accessToken !== staleToken && session.accessTokenExpiresAt > now()) return session;
    if (!session.refreshToken) {
      await sessions.destroy(key);
      throw new LoginRequired('access token expired and no refresh token was issued');
    }
    let tokens;
    try {
      tokens = await this.deps.oidc.refresh(session.refreshToken);
    } catch (err) {
      const code = oauthErrorCode(err);
      // invalid_grant: the refresh token expired, was revoked, the user signed
      // out at the platform (first-party tokens end with the platform session)
      // or was disabled. The local session cannot continue.
      if (code === 'invalid_grant') {
        log.info({ err: { code } }, 'refresh token refused; local session ended');
        await sessions.destroy(key);
        throw new LoginRequired('the session at the identity platform has ended');
      }
      log.warn({ err: loggableError(err) }, 'access token renewal failed');
      // A transient failure (network, 5xx): carry on with the current token while it lasts.
      if (session.accessTokenExpiresAt > now()) return session;
      throw code ? new BffError('bad_gateway', 502, 'the identity platform refused to renew the session') : ERRORS.platform();
    }
    const renewed: Session = {
      ...session,
      accessToken: tokens.accessToken,
      accessTokenExpiresAt: tokens.accessTokenExpiresAt,
      refreshToken: tokens.refreshToken,
      idToken: tokens.idToken ?? session.idToken,
      claims: tokens.claims ?? session.claims,
      scopes: tokens.scopes ?? session.scopes,
    };
    // Logout may have run while the platform answered; never resurrect a destroyed session.
    if (!(await sessions.loadByKey(key))) throw new LoginRequired('session ended');
    await sessions.save(key, renewed);
    log.debug({ rotated: tokens.refreshToken !== session.refreshToken }, 'access token renewed');
    return renewed;
  }
}
