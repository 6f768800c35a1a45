import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import { mapMissingReference } from '../storage/errors.js';
import type { UpsertOutcome } from '../identity/repository.js';
import { brandingSettingsSchema } from './model.js';
import type { TenantBranding } from './model.js';

/** Tenant branding rows (migration 024). */
export interface BrandingRepository {
  find(tenantId: string): Promise<TenantBranding | undefined>;
  /**
   * Stores the tenant's whole branding; says whether it was created, changed
   * or already so (nothing written then).
   * @throws NotFoundError for an unknown tenant.
   */
  put(branding: Omit<TenantBranding, 'updatedAt'>, now?: number): Promise<UpsertOutcome>;
  /** Says whether there was one. */
  delete(tenantId: string): Promise<boolean>;
}

type Row = Database['tenant_branding'];

function toRow(b: Omit<TenantBranding, 'updatedAt'>): Omit<Row, 'updated_at'> {
  return {
    tenant_id: b.tenantId,
    settings: stableJson(b.settings),
    logo: b.logo ? b.logo.data.toString('base64') : null,
    logo_type: b.logo?.type ?? null,
    favicon: b.favicon ? b.favicon.data.toString('base64') : null,
    favicon_type: b.favicon?.type ?? null,
    stylesheet: b.stylesheet,
  };
}

/** JSON with keys sorted at every level, so equal settings are equal text (a re-applied file writes nothing). */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v));
}

function fromRow(r: Row): TenantBranding {
  const parsed = brandingSettingsSchema.safeParse(JSON.parse(r.settings));
  return {
    tenantId: r.tenant_id,
    // A row written by a newer version with fields this one does not know: keep what it understands.
    settings: parsed.success ? parsed.data : {},
    logo: r.logo && r.logo_type ? { type: r.logo_type, data: Buffer.from(r.logo, 'base64') } : null,
    favicon: r.favicon && r.favicon_type ? { type: r.favicon_type, data: Buffer.from(r.favicon, 'base64') } : null,
    stylesheet: r.stylesheet,
    updatedAt: Number(r.updated_at),
  };
}

export function createBrandingRepository(db: Kysely<Database>): BrandingRepository {
  return {
    async find(tenantId) {
      const row = await db.selectFrom('tenant_branding').selectAll().where('tenant_id', '=', tenantId).executeTakeFirst();
      return row ? fromRow(row) : undefined;
    },
    async put(branding, now = Date.now()) {
      const next = toRow(branding);
      const current = await db.selectFrom('tenant_branding').selectAll().where('tenant_id', '=', branding.tenantId).executeTakeFirst();
      if (current) {
        const same = (Object.keys(next) as (keyof typeof next)[]).every((k) => current[k] === next[k]);
        if (same) return 'unchanged';
        await db.updateTable('tenant_branding').set({ ...next, updated_at: now }).where('tenant_id', '=', branding.tenantId).execute();
        return 'updated';
      }
      await mapMissingReference('tenant', branding.tenantId, () => db.insertInto('tenant_branding').values({ ...next, updated_at: now }).execute());
      return 'created';
    },
    async delete(tenantId) {
      const res = await db.deleteFrom('tenant_branding').where('tenant_id', '=', tenantId).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    },
  };
}
