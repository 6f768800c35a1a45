import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import passport from 'passport';
import * as client from 'openid-client';
import { Strategy } from 'openid-client/passport';
import { freePort, startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent } from './helpers/agent.js';
import { signInThrough } from './helpers/flows.js';
import { CONF_SECRET, USER } from './fixtures.js';

/**
 * An Express app with Passport and openid-client's own strategy
 * (`openid-client/passport`) as a relying party of Tessera, as
 * docs/relying-parties.md describes it: PKCE, state and nonce by the
 * strategy; the user from the ID token and UserInfo.
 */

let t: TestApp;
let server: Server;
let app: string;

/** The smallest session support Passport needs (express-session in a real app). */
function memorySessions() {
  const sessions = new Map<string, Record<string, unknown>>();
  return (req: Request, res: Response, next: NextFunction) => {
    const id = /(?:^|;\s*)sid=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    let key = id && sessions.has(id) ? id : undefined;
    if (!key) {
      key = randomBytes(16).toString('hex');
      sessions.set(key, {});
      res.setHeader('set-cookie', `sid=${key}; Path=/; HttpOnly; SameSite=Lax`);
    }
    const session = sessions.get(key)!;
    Object.assign(req, {
      session: Object.assign(session, {
        regenerate: (cb: (err?: unknown) => void) => cb(),
        save: (cb: (err?: unknown) => void) => cb(),
      }),
    });
    next();
  };
}

beforeAll(async () => {
  const port = await freePort();
  app = `http://127.0.0.1:${port}`;
  t = await startTestApp({
    config: {
      clients: [{ client_id: 'passport-rp', client_secret: CONF_SECRET, redirect_uris: [`${app}/login/callback`] }],
      users: [{ ...USER, email: 'alice@example.test', email_verified: true, given_name: 'Alice', family_name: 'Liddell' }],
    },
  });
  // The recipe: discovery, then the strategy; the verify callback gets the token response.
  const config = await client.discovery(new URL(t.issuer), 'passport-rp', CONF_SECRET, undefined, { execute: [client.allowInsecureRequests] });
  passport.use('tessera', new Strategy({ config, scope: 'openid profile email', callbackURL: `${app}/login/callback` }, (tokens, verified) => {
    void client.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub)
      .then((info) => verified(null, { ...tokens.claims(), ...info }), (err: unknown) => verified(err as Error));
  }));
  passport.serializeUser((user, done) => done(null, user));
  passport.deserializeUser((user: Express.User, done) => done(null, user));

  const web = express();
  web.use(memorySessions());
  web.use(passport.session());
  web.get('/login', passport.authenticate('tessera'));
  web.get('/login/callback', passport.authenticate('tessera', { successRedirect: '/me', failureRedirect: '/failed' }));
  web.get('/me', (req, res) => res.json(req.user ?? null));
  web.get('/failed', (_req, res) => res.status(401).json({ error: 'sign-in failed' }));
  server = web.listen(port, '127.0.0.1');
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await t?.close();
});

describe('Passport with openid-client\'s strategy', () => {
  test('signs in with PKCE and gets the user from the ID token and UserInfo', async () => {
    const agent = new UserAgent();
    const start = await agent.get(`${app}/login`);
    expect(start.status).toBe(302);
    const authorize = new URL(start.headers.get('location')!);
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    const callback = await signInThrough(agent, authorize, t.issuer, USER);
    const done = await agent.get(callback);
    expect(done.headers.get('location')).toBe('/me');
    const me = await (await agent.get(`${app}/me`)).json();
    expect(me).toMatchObject({ iss: t.issuer, aud: 'passport-rp', email: 'alice@example.test', name: 'Alice Liddell', preferred_username: 'alice' });
  });

  test('a replayed or forged callback fails', async () => {
    const agent = new UserAgent();
    const start = await agent.get(`${app}/login`);
    const callback = await signInThrough(agent, start.headers.get('location')!, t.issuer, USER);
    expect((await agent.get(callback)).headers.get('location')).toBe('/me');
    // The same callback again: its state was used up.
    const again = await agent.get(callback);
    expect(again.status).toBeGreaterThanOrEqual(300);
    expect(again.headers.get('location') ?? '').not.toBe('/me');
  });
});
