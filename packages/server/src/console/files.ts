import { existsSync } from 'node:fs';
import { readFile, realpath } from 'node:fs/promises';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The console's build (packages/console/dist), found from this package so it
 * does not depend on the working directory. TESSERA_CONSOLE_DIR overrides it
 * (a build shipped elsewhere, or tests).
 */
export const DEFAULT_CONSOLE_DIR = join(serverPackageRoot(), '..', 'console', 'dist');

/**
 * packages/server: the nearest directory above this module with a package.json.
 * Not a fixed number of `..`: this module runs from src/console/ (tsx, tests)
 * and from dist/server/src/console/ (the build `npm start` runs, bin/launch.js).
 */
function serverPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/**
 * Content types of what a Vite build emits. Sent with `nosniff`
 * (http/security.ts), so a wrong type would break the file rather than be
 * guessed around; anything unlisted is an opaque download.
 */
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
  '.webmanifest': 'application/manifest+json',
};

export function contentTypeOf(path: string): string {
  return CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * Whether a (decoded) request path below a served directory may name a
 * file at all: no `.`/`..` segments, no empty segments, no dot files (the
 * build's `.source-hash`), no backslashes (a separator on Windows) or NUL.
 * Checked before touching the file system; `readInside` then resolves and
 * checks the prefix anyway.
 */
export function isServableName(rel: string): boolean {
  if (!rel || rel.includes('\0') || rel.includes('\\')) return false;
  return rel.split('/').every((segment) => segment !== '' && !segment.startsWith('.'));
}

/**
 * Reads `rel` under `root`, or undefined when there is no such regular file
 * or the path leaves `root` (path traversal: `..`, however encoded, or a
 * symbolic link pointing out). Both the resolved path and the real path (links
 * followed) must lie inside the real root.
 * @throws only unexpected I/O errors (not ENOENT, ENOTDIR, EISDIR).
 */
export async function readInside(root: string, rel: string): Promise<Buffer | undefined> {
  if (!isServableName(rel)) return undefined;
  const base = resolve(root);
  const target = resolve(base, rel);
  if (!target.startsWith(base + sep)) return undefined;
  try {
    const realBase = await realpath(base);
    const realTarget = await realpath(target);
    if (!realTarget.startsWith(realBase + sep)) return undefined;
    return await readFile(realTarget);
  } catch (err) {
    if (['ENOENT', 'ENOTDIR', 'EISDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) return undefined;
    throw err;
  }
}
