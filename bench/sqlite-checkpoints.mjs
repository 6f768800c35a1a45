// How much of a refresh's SQLite write time is checkpoints (docs/performance.md, "SQLite checkpoints stop
// the event loop"). Replays a refresh's writes (the used token marked, then one statement upserting the new
// refresh token, its rotation link and the access token) against the token table as Tessera's migrations
// leave it (001, 002, 042), with the server's connection settings, and times each refresh's writes.
//
//   node bench/sqlite-checkpoints.mjs [--refreshes 20000] [--rows 50000] [--checkpoint 5000] [--synchronous NORMAL] [--presync-ms 200]
//
// Prints the mean, median, p99 and longest write, and how much of the mean the writes over 5 ms (checkpoints)
// account for; --presync-ms flushes the WAL from the thread pool as the server does (storage/wal-flush.ts). Run it pinned (`taskset -c 0`) for steadier figures.
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { close, fdatasync, mkdtempSync, open, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(new URL('../packages/server/package.json', import.meta.url));
const Database = require('better-sqlite3');
const opt = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
};
const REFRESHES = Number(opt('refreshes', 20_000));
const ROWS = Number(opt('rows', 50_000));
const CHECKPOINT = Number(opt('checkpoint', 5_000));
const SYNCHRONOUS = opt('synchronous', 'NORMAL');
// Every N ms, flush the WAL to disk from libuv's thread pool (fdatasync on a descriptor of its own).
const PRESYNC = Number(opt('presync-ms', 0));

const dir = mkdtempSync(join(tmpdir(), 'tessera-checkpoints-'));
const db = new Database(join(dir, 'tokens.db'));
db.pragma('journal_mode = WAL');
db.pragma(`synchronous = ${SYNCHRONOUS}`);
db.pragma('busy_timeout = 50');
db.pragma(`wal_autocheckpoint = ${CHECKPOINT}`);
db.exec(`
  create table oidc_payloads (model text not null, id text not null, payload text not null, grant_id text, user_code text, uid text,
    expires_at bigint, consumed_at bigint, account_id text, constraint oidc_payloads_pk primary key (model, id));
  create index oidc_payloads_expires on oidc_payloads (expires_at);
  create index oidc_payloads_grant on oidc_payloads (grant_id, model) where grant_id is not null;
  create index oidc_payloads_uid on oidc_payloads (model, uid) where uid is not null;
  create index oidc_payloads_user_code on oidc_payloads (model, user_code) where user_code is not null;
  create index oidc_payloads_account on oidc_payloads (account_id, model) where account_id is not null;
`);

const id = () => `h1.${randomBytes(32).toString('base64url')}`;
// Stored payloads are JSON of 200–470 characters (sealed token copies included).
const payload = (n) => JSON.stringify({ v: randomBytes(n).toString('base64') });
const account = `u_${randomBytes(12).toString('hex')}`;
const row = '(?, ?, null, ?, ?, null, null, ?, ?)';
const insert = db.prepare(`insert into oidc_payloads (model, id, consumed_at, payload, grant_id, user_code, uid, account_id, expires_at) values ${row}`);
db.transaction(() => {
  for (let i = 0; i < ROWS; i++) insert.run(['AccessToken', 'RefreshToken', 'Grant'][i % 3], id(), payload(330), id(), `u_${i % 5000}`, Date.now() + 3.6e6);
})();
db.pragma('wal_checkpoint(TRUNCATE)');

const upsert = db.prepare(`insert into oidc_payloads (model, id, consumed_at, payload, grant_id, user_code, uid, account_id, expires_at)
  values ${[row, row, row].join(', ')} on conflict (model, id) do update set payload = excluded.payload, grant_id = excluded.grant_id,
  account_id = excluded.account_id, expires_at = excluded.expires_at`);
const consume = db.prepare('update oidc_payloads set consumed_at = ? where model = ? and id = ? and consumed_at is null');
const grant = id();
const times = [];
let previous;
const cpu = process.cpuUsage();
const wallStart = process.hrtime.bigint();
const syncer = PRESYNC ? setInterval(() => {
  open(join(dir, 'tokens.db-wal'), 'r', (err, fd) => { if (!err) fdatasync(fd, () => close(fd, () => {})); });
}, PRESYNC) : undefined;
for (let i = 0; i < REFRESHES; i++) {
  // Back to the event loop now and then, as a server is between requests (the interval above runs there).
  if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
  const start = process.hrtime.bigint();
  const now = Date.now();
  if (previous) consume.run(now, 'RefreshToken', previous);
  previous = id();
  upsert.run('RefreshToken', previous, payload(330), grant, account, now + 1.2e9,
    'RefreshRotation', id(), payload(140), null, account, now + 15_000,
    'AccessToken', id(), payload(330), grant, account, now + 3.6e6);
  times.push(Number(process.hrtime.bigint() - start) / 1e3);
}
const used = process.cpuUsage(cpu);
const wall = Number(process.hrtime.bigint() - wallStart) / 1e3;
if (syncer) clearInterval(syncer);
db.close();
rmSync(dir, { recursive: true, force: true });

const sorted = [...times].sort((a, b) => a - b);
const mean = times.reduce((a, b) => a + b, 0) / REFRESHES;
const stalls = times.filter((t) => t > 5_000);
const µs = (v) => `${v.toFixed(0)} µs`;
console.log(`${REFRESHES} refreshes' writes, wal_autocheckpoint ${CHECKPOINT}, synchronous=${SYNCHRONOUS}, ${ROWS} rows before${PRESYNC ? `, WAL flushed every ${PRESYNC} ms` : ''}`);
console.log(`wall ${µs(wall / REFRESHES)} per refresh (all of it, the event loop's turns included)`);
console.log(`mean ${µs(mean)} (CPU ${µs((used.user + used.system) / REFRESHES)}), median ${µs(sorted[REFRESHES >> 1])}, p99 ${µs(sorted[Math.floor(REFRESHES * 0.99)])}, longest ${(sorted[REFRESHES - 1] / 1e3).toFixed(1)} ms`);
console.log(`writes over 5 ms: ${stalls.length}, ${µs(stalls.reduce((a, b) => a + b, 0) / REFRESHES)} of the mean`);
