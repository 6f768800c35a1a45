import { sql } from 'kysely';
import type { DatabaseIntrospector, DatabaseMetadata, DatabaseMetadataOptions, Dialect, Kysely, SchemaMetadata, TableMetadata } from 'kysely';

/**
 * What Kysely's Migrator asks PostgreSQL's catalogue (does the schema exist,
 * do its two tables), answered from `pg_namespace` and `pg_class` by name
 * only: `columns` is always empty. Kysely's own introspector reads every
 * column of every table of every schema, calling `pg_get_serial_sequence`
 * by name for each; a schema dropped meanwhile by anyone (another Tessera
 * deployment's, a parallel test suite's) made it fail with `schema "…" does
 * not exist`, failing the migration (seen in CI: a fresh test schema's
 * start among suites creating and dropping theirs; reproduced by a loop
 * dropping schemas beside `getTables`: about one call in five failed). A
 * plain scan of the catalogue reads one snapshot and cannot fail that way.
 * Only for the instance migrations run on: nothing else asks it.
 */
class CatalogueNames implements DatabaseIntrospector {
  constructor(private readonly db: Kysely<unknown>) {}

  async getSchemas(): Promise<SchemaMetadata[]> {
    const { rows } = await sql<{ name: string }>`select nspname as name from pg_catalog.pg_namespace`.execute(this.db);
    return rows;
  }

  async getTables(options: DatabaseMetadataOptions = { withInternalKyselyTables: false }): Promise<TableMetadata[]> {
    const { rows } = await sql<{ name: string; schema: string; kind: string }>`select c.relname as name, n.nspname as schema, c.relkind as kind
      from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p', 'v', 'm', 'f') and n.nspname !~ '^pg_' and n.nspname <> 'information_schema'
      order by n.nspname, c.relname`.execute(this.db);
    return rows
      .filter((r) => options.withInternalKyselyTables || !r.name.startsWith('kysely_migration'))
      .map((r) => ({ name: r.name, schema: r.schema, isView: r.kind === 'v' || r.kind === 'm', columns: [] }));
  }

  async getMetadata(options?: DatabaseMetadataOptions): Promise<DatabaseMetadata> {
    return { tables: await this.getTables(options) };
  }
}

/** `dialect` with the catalogue answered by name only (CatalogueNames). */
export function withCatalogueNames(dialect: Dialect): Dialect {
  return {
    createDriver: () => dialect.createDriver(),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createAdapter: () => dialect.createAdapter(),
    createIntrospector: (db) => new CatalogueNames(db),
  };
}
