// Builds the SDK for browsers: dist/tessera.js (readable ES module) and
// dist/tessera.min.js, and prints the minified + gzipped size.
// `node scripts/build.mjs --size` only prints the size.
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const common = { entryPoints: [`${root}src/index.ts`], bundle: true, format: 'esm', target: 'es2022', platform: 'browser', logLevel: 'warning' };

/** Bundles the SDK; returns the minified code (for the size figure and the demo). */
export async function buildSdk({ write = true } = {}) {
  if (write) await build({ ...common, outfile: `${root}dist/tessera.js` });
  const min = await build({ ...common, minify: true, write, outfile: `${root}dist/tessera.min.js` });
  const code = write ? undefined : min.outputFiles[0].text;
  return code;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const sizeOnly = process.argv.includes('--size');
  const code = await buildSdk({ write: !sizeOnly }) ?? (await buildSdk({ write: false }));
  const bytes = Buffer.byteLength(code);
  console.log(`@tessera/browser-sdk: ${bytes} bytes minified, ${gzipSync(code, { level: 9 }).length} bytes minified + gzipped`);
}
