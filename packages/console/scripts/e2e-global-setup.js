// vitest globalSetup of the browser suite (vitest.e2e.config.ts): the tests
// always run against a build of the current console sources. Rebuilds only
// when they changed (ensure-built.js); fails the run when the build fails.
import { ensureConsoleBuilt } from './ensure-built.js';

export default async function setup() {
  await ensureConsoleBuilt({ strict: true });
}
