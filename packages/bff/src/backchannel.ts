import type { FastifyInstance } from 'fastify';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import type { BffConfig } from './config.js';
import { loggableError } from './errors.js';
import type { OidcClient } from './oidc.js';
import type { Sessions } from './session.js';
import type { SessionStore } from './store.js';

/** Where the platform posts logout tokens; register `${origin}${BACKCHANNEL_PATH}` as the client's `backchannel_logout_uri`. */
export const BACKCHANNEL_PATH = '/bff/backchannel-logout';

const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** How old a logout token may be (its `iat`); older ones are refused even if not expired. */
const MAX_AGE_SECONDS = 300;
/** Leeway for clock differences with the platform. */
const CLOCK_TOLERANCE_SECONDS = 30;

const FormSchema = z.object({ logout_token: z.string().min(1).max(8192) }).loose();

export interface BackchannelDeps {
  config: BffConfig;
  oidc: OidcClient;
  sessions: Sessions;
  /** Remembers `jti`s of accepted tokens until they are too old to be accepted again. */
  replay: SessionStore;
  now: () => number;
  /** Verification keys; the platform's JWKS (from discovery) by default. */
  keys?: JWTVerifyGetKey;
}

/**
 * OpenID Connect Back-Channel Logout 1.0 receiver: the platform posts a signed
 * logout token when the user signs out anywhere (another app, the account
 * page, an administrator revoking the session), and the BFF ends its sessions
 * for that platform session (`sid`) or user (`sub`) at once, instead of at the
 * next renewal. Validation follows §2.6: signature with the platform's keys,
 * `iss`, `aud`, `iat`, the logout event, `sub` or `sid`, no `nonce`, and each
 * `jti` accepted once.
 */
export function registerBackchannelLogout(app: FastifyInstance, deps: BackchannelDeps): void {
  let keys: JWTVerifyGetKey | undefined = deps.keys;
  const getKeys = async (): Promise<JWTVerifyGetKey> => {
    if (keys) return keys;
    const jwksUri = (await deps.oidc.config()).serverMetadata().jwks_uri;
    if (!jwksUri) throw new Error('the platform publishes no jwks_uri');
    keys = createRemoteJWKSet(new URL(jwksUri));
    return keys;
  };

  app.post(BACKCHANNEL_PATH, async (req, reply) => {
    reply.header('cache-control', 'no-store');
    const form = FormSchema.safeParse(req.body ?? {});
    if (!form.success) return reply.code(400).send({ error: 'invalid_request', error_description: 'logout_token is required' });
    let claims;
    try {
      ({ payload: claims } = await jwtVerify(form.data.logout_token, await getKeys(), {
        issuer: deps.config.issuer.replace(/\/$/, ''),
        audience: deps.config.clientId,
        maxTokenAge: MAX_AGE_SECONDS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: new Date(deps.now()),
        requiredClaims: ['iat', 'jti'],
      }));
    } catch (err) {
      req.log.warn({ err: loggableError(err) }, 'back-channel logout token refused');
      return reply.code(400).send({ error: 'invalid_request', error_description: 'the logout token is not valid' });
    }
    const events = claims.events as Record<string, unknown> | undefined;
    const sub = typeof claims.sub === 'string' ? claims.sub : undefined;
    const sid = typeof claims.sid === 'string' ? claims.sid : undefined;
    const problem = !events || typeof events[LOGOUT_EVENT] !== 'object' ? 'no back-channel logout event'
      : 'nonce' in claims ? 'a nonce (this is an ID token, not a logout token)'
        : !sub && !sid ? 'neither sub nor sid' : undefined;
    if (problem) {
      req.log.warn({ problem }, 'back-channel logout token refused');
      return reply.code(400).send({ error: 'invalid_request', error_description: 'the logout token is not valid' });
    }
    const replayKey = `jti:${String(claims.jti)}`;
    if (await deps.replay.get(replayKey)) {
      req.log.warn('back-channel logout token replayed');
      return reply.code(400).send({ error: 'invalid_request', error_description: 'the logout token was already used' });
    }
    await deps.replay.set(replayKey, 1, MAX_AGE_SECONDS + CLOCK_TOLERANCE_SECONDS);
    const ended = await deps.sessions.destroyMatching({ ...(sub ? { sub } : {}), ...(sid ? { sid } : {}) });
    req.log.info({ sub, ended }, 'back-channel logout');
    return reply.code(200).send();
  });
}
