import type { Migration, MigrationProvider } from 'kysely';
import * as m001 from './001_initial.js';

/** Migrations are listed in code (not read from disk) so they run the same under tsx, tests and builds. */
const migrations: Record<string, Migration> = {
  '001_initial': m001,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};

export const latestMigration = Object.keys(migrations).sort().at(-1)!;
