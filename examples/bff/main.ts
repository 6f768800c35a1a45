/**
 * `npm run bff`: the BFF with the example page.
 *
 * Defaults match examples/bff/tessera.yaml, so with
 *   TESSERA_CONFIG=examples/bff/tessera.yaml npm start      (the platform, http://localhost:3000)
 *   npm run bff                                             (this, http://localhost:4000)
 * the example runs as is. Every BFF_* variable overrides its default (docs/bff.md).
 * Without BFF_API_BASE, a small demo API is started on a loopback port.
 */
import { BffConfigError, loadBffConfig } from '../../packages/bff/src/index.js';
import type { BffConfig } from '../../packages/bff/src/index.js';
import { createExampleApp } from './app.js';
import { EXAMPLE_DEFAULTS } from './defaults.js';
import { startDemoApi } from './demo-api.js';
import type { DemoApi } from './demo-api.js';


function configFrom(env: Record<string, string | undefined>): BffConfig {
  try {
    return loadBffConfig(env);
  } catch (err) {
    if (!(err instanceof BffConfigError)) throw err;
    console.error(`bff: ${err.message}`);
    process.exit(1);
  }
}

const env: Record<string, string | undefined> = { ...EXAMPLE_DEFAULTS, ...process.env };
// Validate everything first; the placeholder only stands in until the demo API has a port.
let config = configFrom({ BFF_API_BASE: 'http://127.0.0.1:9', ...env });
let demo: DemoApi | undefined;
if (!env.BFF_API_BASE) {
  if (!config.resource) {
    console.error('bff: the demo API needs BFF_RESOURCE (the audience of its tokens), or set BFF_API_BASE');
    process.exit(1);
  }
  demo = await startDemoApi({ issuer: config.issuer, audience: config.resource });
  config = configFrom({ ...env, BFF_API_BASE: demo.url });
}

const app = createExampleApp(config);
await app.listen({ host: config.host, port: config.port });
app.log.info({ issuer: config.issuer, api: config.apiBase, demoApi: Boolean(demo) }, `example: open ${config.publicOrigin}/`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void app.close().then(() => {
      demo?.server.close();
      process.exit(0);
    });
  });
}
