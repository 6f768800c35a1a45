import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ID_PATTERN } from '../identity/model.js';
import { BRANDING_PATH } from './service.js';
import type { BrandService } from './service.js';

const params = z.object({ tenant: z.string().regex(ID_PATTERN), asset: z.enum(['logo', 'favicon', 'theme.css']) });

/**
 * The brand's files, from Tessera's own origin so the pages' CSP
 * (`img-src 'self'`, `style-src 'self'`) covers them: `/branding/<tenant>/logo`,
 * `/favicon`, `/theme.css`. URLs in pages carry `?v=<hash>`, so the answers
 * are cached for a year; a new upload is a new URL.
 */
export function registerBrandingAssetRoutes(app: FastifyInstance, brands: BrandService): void {
  app.get(`${BRANDING_PATH}/:tenant/:asset`, async (request, reply) => {
    const p = params.safeParse(request.params);
    if (!p.success) return reply.code(404).type('text/plain; charset=utf-8').send('not found');
    const asset = await brands.asset(p.data.tenant, p.data.asset === 'theme.css' ? 'theme' : p.data.asset);
    if (!asset) return reply.code(404).type('text/plain; charset=utf-8').send('not found');
    const etag = `"${asset.etag}"`;
    const versioned = typeof (request.query as { v?: unknown }).v === 'string';
    reply
      .header('etag', etag)
      .header('cache-control', versioned ? 'public, max-age=31536000, immutable' : 'public, max-age=60')
      // An SVG opened directly must not run script in Tessera's origin: sandboxed, nothing loads.
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; sandbox")
      .header('x-content-type-options', 'nosniff');
    if (request.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.type(asset.type).send(asset.body);
  });
}
