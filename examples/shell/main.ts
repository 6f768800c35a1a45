/**
 * `npm run demo:shell`: the platform, the example backend, the gateway and
 * the BFF with the portal shell, in one process. Open the printed URL and
 * sign in as ada (orders and payouts) or bob (no role). See README.md.
 */
import { DEFAULT_DATA_DIR, DEMO_USERS, startShellDemo } from './demo.js';

const num = (v: string | undefined, fallback: number) => (v ? Number(v) : fallback);
const demo = await startShellDemo({
  dataDir: process.env.SHELL_DEMO_DATA_DIR ?? DEFAULT_DATA_DIR,
  ports: {
    platform: num(process.env.SHELL_DEMO_PLATFORM_PORT, 3100),
    bff: num(process.env.SHELL_DEMO_PORT, 4100),
    gateway: num(process.env.SHELL_DEMO_GATEWAY_PORT, 8100),
    backend: num(process.env.SHELL_DEMO_BACKEND_PORT, 4101),
  },
  logLevel: process.env.LOG_LEVEL ?? 'warn',
});

console.log(`
  Shell demo running.
    portal:   ${demo.shellUrl}/#/orders/7?tab=history
    platform: ${demo.issuer}  (account pages: ${demo.issuer}/account)
  Users:
    ${DEMO_USERS.ada.username} / ${DEMO_USERS.ada.password}   roles orders, payouts (add an authenticator app at ${demo.issuer}/account/security to pay out)
    ${DEMO_USERS.bob.username} / ${DEMO_USERS.bob.password}   no role
  Ctrl-C stops everything.
`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void demo.close().then(() => process.exit(0)));
}
