// `npm run typecheck`: tsc --noEmit for every workspace package that has a
// tsconfig.json, so a new package is checked without editing package.json.
import { existsSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

let failed = 0;
for (const name of readdirSync('packages').sort()) {
  if (!existsSync(`packages/${name}/tsconfig.json`)) continue;
  const r = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', `packages/${name}`, '--noEmit'], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`typecheck: packages/${name} failed`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
