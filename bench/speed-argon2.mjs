// The physical floor of a password sign-in for `npm run bench`
// (bench/speed.ts): argon2id verifications alone, with Tessera's parameters
// (OWASP: m=19456 KiB, t=2, p=1, @node-rs/argon2 as Tessera uses it), run in
// their own process pinned to the server's core, `concurrency` at a time for
// `duration` seconds. Prints one JSON line: verifications and seconds.
import { hash, verify } from '@node-rs/argon2';

const { duration, concurrency } = JSON.parse(process.argv[2]);
const password = 'bench user password, long enough';
const encoded = await hash(password, { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 });
if (!(await verify(encoded, password))) throw new Error('argon2 verify failed');
let done = 0;
const started = performance.now();
const end = Date.now() + duration * 1000;
async function loop() {
  while (Date.now() < end) {
    if (!(await verify(encoded, password))) throw new Error('argon2 verify failed');
    done++;
  }
}
await Promise.all(Array.from({ length: concurrency }, loop));
process.stdout.write(`${JSON.stringify({ verifications: done, seconds: (performance.now() - started) / 1000 })}\n`);
