import { defineConfig } from 'vite';

// The platform serves this build at /admin/ under a strict CSP (script-src
// 'self'; style-src 'self'): no inline scripts or styles, so Vite must emit
// only linked files, and no module-preload polyfill (it is an inline script).
export default defineConfig({
  base: '/admin/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
  },
});
