import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { formAction } from '../helpers/agent.js';
import { discover } from '../helpers/flows.js';
import { PG_URL, load, ownDatabase, sleep, tempDir } from '../fault/harness.js';
import type { Outcome, OwnDatabase } from '../fault/harness.js';
import { metric, ownRedis, requireBinaries, startCluster, waitAllInService } from './cluster.js';
import type { Cluster, OwnRedis } from './cluster.js';
import {
  FAILURES_PER_MINUTE, PASSWORD, REDIRECT, SCALE_CONFIG, SCALE_SECRET, WEB_SECRET, adminChangeEverywhere, clientCredentials, fullSession,
  lockoutAcrossProcesses, throttleAcrossProcesses, trackingAgent,
} from './scenarios.js';

/**
 * Three `tessera serve` instances behind Debian's haproxy (round robin, no
 * stickiness), on one PostgreSQL database and one Redis (docs/scaling.md):
 * everything a person and an operator do behaves as on one instance, an
 * instance dying mid sign-in costs nothing, a rolling restart under load
 * fails no request, and a Redis outage follows the documented behaviour.
 */
describe.runIf(PG_URL)('three instances behind haproxy on PostgreSQL and Redis', () => {
  let db: OwnDatabase;
  let redis: OwnRedis;
  let tmp: ReturnType<typeof tempDir>;
  let cluster: Cluster;

  beforeAll(async () => {
    requireBinaries();
    tmp = tempDir('tessera-scale-');
    db = await ownDatabase();
    redis = await ownRedis(tmp.dir);
    cluster = await startCluster({
      count: 3, databaseUrl: db.url, dir: tmp.dir, config: SCALE_CONFIG,
      env: { REDIS_URL: redis.url, TESSERA_AUTH_FAILURES_PER_MINUTE: String(FAILURES_PER_MINUTE), TESSERA_SHUTDOWN_DELAY_SECONDS: '2', LOG_LEVEL: 'warn' },
    });
  }, 180_000);
  afterAll(async () => {
    await cluster?.stop();
    await redis?.stop();
    await db?.drop();
    tmp?.dispose();
  });

  const direct = () => cluster.instances.map((s) => s.url);

  test('sign-in with MFA enrolment and consent, refresh rotation, UserInfo and logout, spread over all three', async () => {
    const { servedBy } = await fullSession(cluster.issuer, 'mia', { 'x-forwarded-for': '10.1.0.1' });
    // Round robin without stickiness: the browser's requests landed on every instance.
    expect([...servedBy].sort()).toEqual(['t1', 't2', 't3']);
  });

  test('the per-IP throttle counts failures across instances', async () => {
    await throttleAcrossProcesses(cluster.issuer, direct(), '10.2.0.1');
  });

  test('lockout counts failures across instances', async () => {
    await lockoutAcrossProcesses(cluster.issuer, 'lou', '10.3.0.1');
  });

  test('an admin change through one instance is seen by the others within a second or so', async () => {
    const ms = await adminChangeEverywhere(cluster.issuer, cluster.instances[0]!.url, direct().slice(1));
    console.log(`admin change seen by every instance after ${ms} ms`);
  });

  test('an instance killed in the middle of a sign-in: the person finishes on another', async () => {
    const config = await discover(cluster.issuer, { clientId: 'web', clientSecret: WEB_SECRET });
    const { agent, servedBy } = trackingAgent({ 'x-forwarded-for': '10.4.0.1' });
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid', state: 's', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const { res } = await agent.follow(await agent.get(url), url.href);
    const action = new URL(formAction(await res.text(), '/login'), cluster.issuer);
    // The sign-in page is on the screen; the instance that rendered it dies (SIGKILL: no goodbye).
    const victim = Number([...servedBy].at(-1)!.slice(1)) - 1;
    await cluster.instances[victim]!.stop('SIGKILL');
    servedBy.clear();
    // kim has no authenticator and `web` requires one: the answer is the enrolment page, on a live instance.
    const posted = await agent.follow(await agent.post(action, { username: 'kim', password: PASSWORD }), action.href);
    expect(posted.res.status).toBe(200);
    expect(await posted.res.text()).toMatch(/\/mfa\/enroll"/);
    expect(servedBy.has(`t${victim + 1}`)).toBe(false);
    await cluster.restart(victim);
    await waitAllInService(cluster.balancer, 3);
  });

  test('a rolling restart of all three under load: no failed request', async () => {
    const work = load(4, async (): Promise<Outcome> => {
      const started = Date.now();
      try {
        const r = await clientCredentials(cluster.issuer, 'reports', SCALE_SECRET, '10.5.0.1');
        return { kind: 'token', status: r.status, ms: Date.now() - started, error: r.body.error as string | undefined, at: started };
      } catch (err) {
        return { kind: 'token', status: 0, ms: Date.now() - started, transport: String((err as Error).cause ?? err), at: started };
      }
    });
    await sleep(500);
    for (let i = 0; i < 3; i++) {
      // SIGTERM: /readyz turns 503 at once, haproxy stops sending, in-flight requests finish, the process exits.
      await cluster.instances[i]!.stop('SIGTERM');
      await cluster.restart(i);
      await waitAllInService(cluster.balancer, 3);
    }
    await sleep(500);
    await work.stop();
    const failed = work.outcomes.filter((o) => o.status !== 200);
    console.log(`rolling restart: ${work.outcomes.length} requests, ${failed.length} failed`);
    expect(work.outcomes.length).toBeGreaterThan(50);
    expect(failed, JSON.stringify(failed)).toEqual([]);
  }, 180_000);

  test('Redis stopped for a while: no crash, sign-ins fail closed (503), throttles count per instance (gauge, log line); all back when it returns', async () => {
    await redis.stop();
    // The engine's short-lived state is in Redis (the default with REDIS_URL): a new sign-in answers 503, never a weaker fallback.
    const config = await discover(cluster.issuer, { clientId: 'web', clientSecret: WEB_SECRET });
    const signIn = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid', state: 's',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    });
    const refused = await fetch(signIn, { redirect: 'manual', headers: { accept: 'text/html' } });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBeTruthy();
    expect(await refused.text()).toContain('temporarily_unavailable');
    // Requests go on; the failed credentials make each instance write its counts and find Redis gone.
    for (let i = 0; i < 6; i++) expect((await clientCredentials(cluster.issuer, 'reports', SCALE_SECRET, '10.6.0.1')).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await clientCredentials(cluster.issuer, 'reports', 'wrong', '10.6.0.2')).status).toBe(401);
    for (const server of cluster.instances) {
      let degraded: number | undefined;
      for (const started = Date.now(); Date.now() - started < 10_000; await sleep(200)) {
        degraded = await metric(server, 'tessera_shared_counters_degraded');
        if (degraded === 1) break;
      }
      expect(degraded, server.url).toBe(1);
      expect(server.alive()).toBe(true);
    }
    expect(cluster.instances.some((s) => s.output().includes('shared counters unavailable'))).toBe(true);
    // Per instance, the throttle still refuses an address that failed too often on that instance.
    const one = cluster.instances[0]!.url;
    let last = 0;
    for (let i = 0; i < FAILURES_PER_MINUTE + 1; i++) last = (await clientCredentials(one, 'reports', 'wrong', '10.6.0.3')).status;
    expect(last).toBe(429);

    await redis.start();
    for (const server of cluster.instances) {
      let degraded: number | undefined;
      for (const started = Date.now(); Date.now() - started < 15_000; await sleep(250)) {
        await clientCredentials(server.url, 'reports', 'wrong', '10.6.0.4');
        degraded = await metric(server, 'tessera_shared_counters_degraded');
        if (degraded === 0) break;
      }
      expect(degraded, server.url).toBe(0);
    }
    // Machine tokens never stopped; sign-ins work again (Redis kept nothing: earlier sessions are gone, people sign in again).
    expect((await clientCredentials(cluster.issuer, 'reports', SCALE_SECRET, '10.6.0.5')).status).toBe(200);
    await fullSession(cluster.issuer, 'kim', { 'x-forwarded-for': '10.6.0.6' });
  }, 120_000);
});
