import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../storage/schema.js';
import type { UpsertOutcome } from '../identity/repository.js';
import { fileErrorText } from '../startup/errors.js';
import { brandingSettingsSchema } from './model.js';
import { applyBrandingInput } from './input.js';
import type { BrandingProblems } from './input.js';
import { createBrandingRepository } from './repository.js';

/**
 * `tenants[].branding` in the configuration file (docs/branding.md): the
 * settings, plus `logo` and `favicon` as a file (relative to the
 * configuration file) or a data: URI, and `stylesheet` as a CSS file. The
 * files are read while the file is parsed, so a missing one stops the start
 * before anything is written; the declared branding is then the tenant's
 * whole branding at every start.
 */
export const brandingFileSchema = brandingSettingsSchema.extend({
  logo: z.string().min(1).optional().describe('a PNG, JPEG, WebP, GIF or SVG file, or a data: URI'),
  favicon: z.string().min(1).optional().describe('a PNG, ICO, GIF or SVG file, or a data: URI'),
  stylesheet: z.string().min(1).optional().describe('a CSS file'),
});

export type BrandingFileEntry = z.infer<typeof brandingFileSchema>;

interface DeclaredTenant {
  id: string;
  branding?: BrandingFileEntry;
}

/**
 * Reads the files `tenants[].branding` names (in place: logo and favicon
 * become data: URIs, stylesheet its CSS) and checks the result. Returns the
 * problems as `tenants[i].branding.…: message` lines.
 */
export function loadBrandingFiles(tenants: DeclaredTenant[], source: string): string[] {
  const base = isAbsolute(source) ? dirname(source) : process.cwd();
  const problems: string[] = [];
  tenants.forEach((t, i) => {
    const b = t.branding;
    if (!b) return;
    const where = `tenants[${i}].branding`;
    const read = (field: 'logo' | 'favicon' | 'stylesheet'): Buffer | undefined => {
      const value = b[field]!;
      const path = resolve(base, value);
      try {
        return readFileSync(path);
      } catch (err) {
        problems.push(`${where}.${field}: cannot read ${path}: ${fileErrorText(err)}`);
        return undefined;
      }
    };
    for (const field of ['logo', 'favicon'] as const) {
      if (b[field] && !b[field]!.startsWith('data:')) {
        const bytes = read(field);
        if (bytes) b[field] = `data:application/octet-stream;base64,${bytes.toString('base64')}`;
      }
    }
    if (b.stylesheet) {
      const css = read('stylesheet');
      if (css) b.stylesheet = css.toString('utf8');
    }
    if (problems.some((p) => p.startsWith(`${where}.`))) return; // a file that could not be read says enough
    const checked = applyBrandingInput(t.id, undefined, b, 'replace', { checkTextKeys: false });
    if ('problems' in checked) problems.push(...problemLines(where, checked.problems));
  });
  return problems;
}

function problemLines(where: string, problems: BrandingProblems): string[] {
  return Object.entries(problems).map(([field, p]) => `${where}.${field}: ${p.message}`);
}

/**
 * Stores a declared branding (the file's is the whole branding). Returns
 * the outcome, or the problems (an unknown page-text key) for a ConfigError.
 */
export async function applyDeclaredBranding(db: Kysely<Database>, tenantId: string, index: number, b: BrandingFileEntry): Promise<UpsertOutcome | string[]> {
  const checked = applyBrandingInput(tenantId, undefined, b, 'replace');
  if ('problems' in checked) return problemLines(`tenants[${index}].branding`, checked.problems);
  return createBrandingRepository(db).put(checked.branding);
}
