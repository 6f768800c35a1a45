import { createServer } from 'node:http';
import type { Server } from 'node:http';
import express from 'express';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { TestApp } from '../../server/test/helpers/app.js';
import { withAuthenticator } from '../../server/test/helpers/admin.js';
import { totpHandler } from '../../server/test/helpers/mfa.js';
import * as oidc from 'openid-client';
import { discover } from '../../server/test/helpers/flows.js';
import { ALICE, DAVE, RECORDS_API, UPSTREAM_SECRET, WORKER_SECRET, call, clientToken, platformConfig, startGateway, startPlatform, userToken } from '../../gateway/test/helpers.js';
import type { StartedGateway } from '../../gateway/test/helpers.js';
import { ACR_MFA, Denied, callerJson, requireAnyRole, requireAuthentication, requireScopes } from '../src/index.js';
import type { Caller } from '../src/index.js';
import { withCaller } from '../src/adapters/node.js';
import { callerOf as expressCaller, tessera, tesseraErrors } from '../src/adapters/express.js';
import { callerOf as fastifyCaller, registerTessera, replyDenied } from '../src/adapters/fastify.js';

/**
 * The three adapters, each in a real server of its framework behind the real
 * gateway, with tokens the platform issued through the hosted sign-in. Every
 * service has the same four operations, so the answers must be identical.
 */
const options = { gatewaySecret: UPSTREAM_SECRET, skip: (path: string) => path.endsWith('/health') };

/** The operations, framework-free: what each adapter must expose the same way. */
const ops = {
  me: (c: Caller) => callerJson(c),
  write: (c: Caller) => {
    requireScopes(c, 'records:write');
    return { wrote: true };
  },
  purge: async (c: Caller) => {
    const role = requireAnyRole(c, 'admin');
    // Asynchronous on purpose: a Denied from a promise must be answered like a thrown one.
    await new Promise((r) => setTimeout(r, 1));
    requireAuthentication(c, { acr: ACR_MFA, maxAge: 600 });
    return { purged: true, via: role };
  },
};

function nodeService(): Server {
  return createServer(withCaller(options, async (req, res, caller) => {
    const send = (body: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const path = (req.url ?? '').split('?')[0];
    if (path === '/node/health') return send({ ok: true, caller: caller ?? null });
    if (path === '/node/me') return send(ops.me(caller!));
    if (path === '/node/write') return send(ops.write(caller!));
    if (path === '/node/purge') return send(await ops.purge(caller!));
    if (path === '/node/boom') throw new Error('a bug, not a refusal');
    res.writeHead(404).end();
  }));
}

function expressService(): Server {
  const app = express();
  app.use(tessera(options));
  app.get('/express/health', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/express/me', (req, res) => {
    res.json(ops.me(expressCaller(req)));
  });
  app.get('/express/write', (req, res) => {
    res.json(ops.write(expressCaller(req)));
  });
  // Express 5 passes a rejected promise to the error middleware.
  app.get('/express/purge', async (req, res) => {
    res.json(await ops.purge(expressCaller(req)));
  });
  app.get('/express/boom', () => {
    throw new Error('a bug, not a refusal');
  });
  app.use(tesseraErrors());
  // Anything that is not a refusal reaches the service's own handler.
  app.use((_err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).json({ error: 'own_handler' });
  });
  return createServer(app);
}

function fastifyService(): FastifyInstance {
  const app = Fastify();
  // A service with its own error handler answers refusals through replyDenied.
  registerTessera(app, { ...options, errorHandler: false });
  app.setErrorHandler((err, _request, reply) => (err instanceof Denied ? replyDenied(reply, err) : reply.code(500).send({ error: 'own_handler' })));
  app.get('/fastify/health', async (request) => ({ ok: true, caller: request.tessera ?? null }));
  app.get('/fastify/me', async (request) => ops.me(fastifyCaller(request)));
  app.get('/fastify/write', async (request) => ops.write(fastifyCaller(request)));
  app.get('/fastify/purge', async (request) => ops.purge(fastifyCaller(request)));
  app.get('/fastify/boom', async () => {
    throw new Error('a bug, not a refusal');
  });
  return app;
}

const listen = (s: Server) => new Promise<string>((r) => s.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(s.address() as { port: number }).port}`)));

let t: TestApp;
let gw: StartedGateway;
let nodeServer: Server;
let expressServer: Server;
let fastify: FastifyInstance;
const urls: Record<string, string> = {};
const tokens: Record<'alice' | 'dave' | 'daveMfa' | 'reader' | 'worker' | 'delegated', string> = {} as never;
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** A service allowed to exchange the spa's user tokens for records:read (RFC 8693 delegation, docs/protocol.md#token-exchange). */
const exchanger = {
  client_id: 'orders-service', client_secret: WORKER_SECRET, grant_types: [EXCHANGE], scope: 'records:read',
  token_exchange: { subject_clients: ['spa'], audiences: [RECORDS_API], scopes: ['records:read'] },
};
const FRAMEWORKS = ['node', 'express', 'fastify'] as const;

beforeAll(async () => {
  t = await startPlatform({ ...platformConfig, clients: [...platformConfig.clients, exchanger] });
  nodeServer = nodeService();
  expressServer = expressService();
  fastify = fastifyService();
  urls.node = await listen(nodeServer);
  urls.express = await listen(expressServer);
  urls.fastify = await fastify.listen({ port: 0, host: '127.0.0.1' });
  gw = await startGateway({
    issuer: t.issuer, audience: RECORDS_API,
    routes: FRAMEWORKS.map((f) => ({ prefix: `/${f}`, upstream: urls[f], scopes: ['records:read'] })),
  }, { GATEWAY_UPSTREAM_SECRET: UPSTREAM_SECRET });
  const rw = 'records:read records:write';
  tokens.alice = await userToken(t.issuer, 'spa', ALICE, RECORDS_API, rw);
  tokens.dave = await userToken(t.issuer, 'spa', DAVE, RECORDS_API, rw);
  tokens.reader = await userToken(t.issuer, 'spa', ALICE, RECORDS_API, 'records:read');
  tokens.worker = await clientToken(t.issuer, 'worker', RECORDS_API, rw);
  // The service exchanges Alice's token with openid-client: the new token carries act: { sub: 'orders-service' }.
  const service = await discover(t.issuer, { clientId: 'orders-service', clientSecret: WORKER_SECRET });
  tokens.delegated = (await oidc.genericGrantRequest(service, EXCHANGE, {
    subject_token: tokens.alice, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', resource: RECORDS_API, scope: 'records:read',
  })).access_token;
  // Dave steps up: an authenticator app, then a sign-in that asks for the MFA level.
  const authenticator = await withAuthenticator(t.issuer, DAVE);
  tokens.daveMfa = await userToken(t.issuer, 'spa', DAVE, RECORDS_API, rw, { acr_values: ACR_MFA }, totpHandler(authenticator));
});

afterAll(async () => {
  await gw?.close();
  await new Promise((r) => nodeServer?.close(r));
  await new Promise((r) => expressServer?.close(r));
  await fastify?.close();
  await t?.close();
});

const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

describe.each(FRAMEWORKS)('%s adapter behind the gateway', (f) => {
  test('the caller: a person with tenant, roles, scopes, acr and sign-in time; a machine client as a client', async () => {
    const me = await call(gw.url, `/${f}/me`, { token: tokens.alice, headers: { 'x-request-id': `trace-${f}` } });
    expect(me.status).toBe(200);
    const c = claims(tokens.alice);
    expect(me.json).toEqual({
      kind: 'user', sub: c.sub, userId: c.sub, tenant: 'default', clientId: 'spa', scopes: ['records:read', 'records:write'],
      roles: ['editor'], acr: 'urn:tessera:acr:pwd', authTime: c.auth_time, requestId: `trace-${f}`,
    });
    const bot = await call(gw.url, `/${f}/me`, { token: tokens.worker });
    expect(bot.json).toMatchObject({ kind: 'client', sub: 'worker', clientId: 'worker', tenant: 'default', roles: [] });
    // Undefined in the caller, so absent from its JSON.
    for (const absent of ['userId', 'acr', 'authTime']) expect(bot.json).not.toHaveProperty(absent);
    expect(me.json).not.toHaveProperty('actor');
  });

  test('a delegated call (token exchange): the user is the subject, the service that acts for them is the actor', async () => {
    const me = await call(gw.url, `/${f}/me`, { token: tokens.delegated });
    expect(me.status).toBe(200);
    expect(me.json).toMatchObject({ kind: 'user', sub: claims(tokens.alice).sub, tenant: 'default', clientId: 'orders-service', actor: 'orders-service', scopes: ['records:read'], roles: ['editor'] });
    // A client cannot claim to be a delegate (or hide one): the gateway replaces whatever x-tessera-actor it sends.
    const own = await call(gw.url, `/${f}/me`, { token: tokens.alice, headers: { 'x-tessera-actor': 'orders-service' } });
    expect(own.json).not.toHaveProperty('actor');
  });

  test('a scope the operation needs beyond the route\'s: 403 insufficient_scope with the challenge, relayed by the gateway', async () => {
    expect((await call(gw.url, `/${f}/write`, { token: tokens.alice })).json).toEqual({ wrote: true });
    const r = await call(gw.url, `/${f}/write`, { token: tokens.reader });
    expect(r.status).toBe(403);
    expect(r.json.error).toBe('insufficient_scope');
    expect(r.challenge).toBe('Bearer realm="tessera", error="insufficient_scope", error_description="This operation needs the scope records:write.", scope="records:write"');
  });

  test('step-up: no role is 403; a password sign-in is 401 with acr_values and max_age; an MFA sign-in passes', async () => {
    expect((await call(gw.url, `/${f}/purge`, { token: tokens.alice })).status).toBe(403);
    const weak = await call(gw.url, `/${f}/purge`, { token: tokens.dave });
    expect(weak.status).toBe(401);
    expect(weak.json.error).toBe('insufficient_user_authentication');
    expect(weak.challenge).toMatch(/^Bearer realm="tessera", error="insufficient_user_authentication", error_description="[^"]+", acr_values="urn:tessera:acr:mfa", max_age="600"$/);
    const strong = await call(gw.url, `/${f}/purge`, { token: tokens.daveMfa });
    expect(strong.status).toBe(200);
    expect(strong.json).toEqual({ purged: true, via: 'admin' });
  });

  test('straight to the service: forged context without the gateway\'s secret is 401; skipped paths need none', async () => {
    const forged = { 'x-tessera-sub': 'admin', 'x-tessera-tenant': 'acme', 'x-tessera-client': 'spa', 'x-tessera-roles': 'admin' };
    const r = await call(urls[f]!, `/${f}/me`, { headers: forged });
    expect(r.status).toBe(401);
    expect(r.json.error).toBe('unauthorized');
    expect(r.challenge).toBe('Bearer realm="tessera"');
    expect((await call(urls[f]!, `/${f}/me`, { headers: { ...forged, 'x-tessera-gateway-secret': 'wrong' } })).status).toBe(401);
    expect((await call(urls[f]!, `/${f}/health`)).status).toBe(200);
  });

  test('errors that are not refusals are left to the service (no refusal body, no challenge)', async () => {
    const r = await call(gw.url, `/${f}/boom`, { token: tokens.alice });
    expect(r.status).toBe(500);
    expect(r.challenge).toBeNull();
    expect(r.json.error).toBe(f === 'node' ? 'server_error' : 'own_handler');
  });
});

test('Denied is an Error with the wire code (for services that log it)', () => {
  expect(Denied.noContext()).toBeInstanceOf(Error);
  expect(Denied.noContext().error).toBe('unauthorized');
});
