/**
 * `npm run bench:directories`: LDAP bind sign-in against local password
 * sign-in on the same Tessera (same run, same machine), and the time to
 * sync 10,000 directory entries. Debian's `slapd` (packages slapd,
 * ldap-utils) is started here with its own config and ports; the entries are
 * created in it with `ldapadd`. A benchmark, not a test: nothing here asserts
 * a speed. See bench/README.md.
 */
import * as oidc from 'openid-client';
import { startTestApp } from '../packages/server/test/helpers/app.js';
import { UserAgent, formAction } from '../packages/server/test/helpers/agent.js';
import { personLdif, startSlapd } from '../packages/server/test/helpers/slapd.js';
import { directoriesOf } from '../packages/server/src/directories/feature.js';

const SIGN_INS = Number(process.env.BENCH_SIGN_INS ?? 40);
const ENTRIES = Number(process.env.BENCH_DIRECTORY_ENTRIES ?? 10_000);
const REDIRECT = 'http://127.0.0.1:9/cb';
const LOCAL_PASSWORD = 'a long enough local password';

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function main(): Promise<void> {
  const slapd = await startSlapd();
  const people = Array.from({ length: 20 }, (_, i) => ({ uid: `sign${i}`, cn: `Sign In ${i}`, sn: `S${i}`, mail: `sign${i}@corp.test`, password: `directory-pw-${i}` }));
  await slapd.ldapmodify(people.map((p) => personLdif(slapd.baseDn, p)).join('\n'), true);
  const t = await startTestApp({
    config: {
      clients: [{ client_id: 'spa', token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT], grant_types: ['authorization_code'], first_party: true, scope: 'openid' }],
      users: Array.from({ length: 20 }, (_, i) => ({ username: `local${i}`, email: `local${i}@example.test`, email_verified: true, password: LOCAL_PASSWORD })),
      identity_providers: [{
        alias: 'corp', type: 'ldap', display_name: 'Corp', jit: 'create', trust_email_verified: true, email_domains: ['corp.test'],
        url: slapd.ldapsUrl, ca_certificate: slapd.caPem, bind_dn: slapd.bindDn, bind_password: slapd.bindPassword,
        user_base: slapd.peopleDn, user_filter: '(&(objectClass=inetOrgPerson)(|(uid={{username}})(mail={{username}})))',
      }],
    },
    env: { LOG_LEVEL: 'warn' },
  });
  try {
    const config = await oidc.discovery(new URL(t.issuer), 'spa', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    /** One hosted sign-in: the login POST (the measured part) after loading the page. */
    const signIn = async (username: string, password: string): Promise<number> => {
      const agent = new UserAgent();
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
      });
      const { res } = await agent.follow(await agent.get(url), url.href);
      const action = new URL(formAction(await res.text(), '/login'), t.issuer);
      const started = performance.now();
      const posted = await agent.post(action, { username, password });
      const ms = performance.now() - started;
      if (posted.status !== 303) throw new Error(`${username}: sign-in answered ${posted.status}`);
      return ms;
    };
    // Warm-up: each directory person signs in once (their accounts are created), and the local users too.
    for (let i = 0; i < 20; i++) {
      await signIn(`sign${i}@corp.test`, `directory-pw-${i}`);
      await signIn(`local${i}`, LOCAL_PASSWORD);
    }
    const local: number[] = [];
    const ldap: number[] = [];
    // Interleaved so both see the same machine load.
    for (let i = 0; i < SIGN_INS; i++) {
      local.push(await signIn(`local${i % 20}`, LOCAL_PASSWORD));
      ldap.push(await signIn(`sign${i % 20}`, `directory-pw-${i % 20}`));
    }

    const ldif = Array.from({ length: ENTRIES }, (_, i) => personLdif(slapd.baseDn, { uid: `u${i}`, cn: `User ${i}`, sn: `U${i}`, mail: `u${i}@corp.test`, password: `pw-${i}-long-enough` })).join('\n');
    let started = performance.now();
    await slapd.ldapmodify(ldif, true);
    const addMs = performance.now() - started;
    const dirs = directoriesOf(t.app.platform)!;
    started = performance.now();
    const first = (await dirs.sync.run('corp'))!;
    const firstMs = performance.now() - started;
    started = performance.now();
    const again = (await dirs.sync.run('corp'))!;
    const againMs = performance.now() - started;

    const row = (name: string, xs: number[]) => `| ${name} | ${SIGN_INS} | ${pct(xs, 50).toFixed(1)} | ${pct(xs, 95).toFixed(1)} |`;
    console.log(`\nSign-in (POST /interaction/:uid/login → 303), sequential, engine ${process.env.TEST_DATABASE_URL ? 'PostgreSQL' : 'SQLite'}`);
    console.log('| method | sign-ins | p50 ms | p95 ms |\n|---|---|---|---|');
    console.log(row('local password (argon2id)', local));
    console.log(row('LDAP bind (slapd over LDAPS)', ldap));
    console.log(`ratio LDAP / local, p50: ${(pct(ldap, 50) / pct(local, 50)).toFixed(2)}`);
    console.log(`\nSync of ${ENTRIES.toLocaleString('en')} directory entries (+20 signed in before)`);
    console.log(`ldapadd of ${ENTRIES.toLocaleString('en')} entries into slapd: ${(addMs / 1000).toFixed(1)} s`);
    console.log(`first sync: ${(firstMs / 1000).toFixed(1)} s (${first.created} created, ${first.updated} updated, ${first.disabled} disabled, ${first.unchanged} unchanged)`);
    console.log(`second sync (nothing changed): ${(againMs / 1000).toFixed(1)} s (${again.created} created, ${again.updated} updated, ${again.disabled} disabled, ${again.unchanged} unchanged)`);
  } finally {
    await t.close();
    await slapd.close();
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(err);
  process.exit(1);
});
