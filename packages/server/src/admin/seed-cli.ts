import { parseArgs } from 'node:util';
import { loadSettings } from '../config/load.js';
import { openStore } from '../storage/database.js';
import { createTenantRepository } from '../identity/repository.js';
import { SEED_PASSWORD, seedUsers } from './seed.js';

/**
 * `tessera users seed --count N [--tenant T] [--batch B]`: bulk test users
 * for load and search measurements (see seed.ts). Not for production data:
 * every seeded user shares one password, printed at the end.
 * Returns the exit code.
 */
export async function seedCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { count: { type: 'string' }, tenant: { type: 'string', default: 'default' }, batch: { type: 'string', default: '10000' } },
  });
  const count = Number(values.count);
  const batch = Number(values.batch);
  if (!Number.isInteger(count) || count < 1 || count > 100_000_000 || !Number.isInteger(batch) || batch < 1 || batch > 100_000) {
    console.error('usage: tessera users seed --count N [--tenant T] [--batch ROWS_PER_TRANSACTION]');
    return 2;
  }
  const store = openStore(loadSettings({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' }).databaseUrl);
  try {
    await store.migrate();
    const tenants = createTenantRepository(store.db);
    // The default tenant exists on every started store; a store seeded before its first start gets it here.
    if (values.tenant === 'default' && !(await tenants.findById('default'))) await tenants.upsert('default', 'Default');
    if (!(await tenants.findById(values.tenant!))) {
      console.error(`tessera users seed: unknown tenant "${values.tenant}"`);
      return 2;
    }
    let last = 0;
    const { created, ms } = await seedUsers(store.db, {
      tenantId: values.tenant!, count, batchSize: batch,
      onProgress: (written) => {
        if (written - last >= 100_000 || written === count) {
          console.log(`  ${written.toLocaleString('en')} / ${count.toLocaleString('en')}`);
          last = written;
        }
      },
    });
    console.log(`seeded ${created.toLocaleString('en')} users in tenant ${values.tenant} in ${(ms / 1000).toFixed(1)} s (${Math.round(created / (ms / 1000)).toLocaleString('en')}/s)`);
    console.log(`every seeded user's password: ${SEED_PASSWORD}`);
    return 0;
  } finally {
    await store.close();
  }
}
