#!/usr/bin/env node
// The `tessera` command. Sources are TypeScript, loaded through tsx so that a
// fresh clone runs with `npm ci && npm start` and no separate build step.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../src/cli.ts');
process.exitCode = await runCli(process.argv.slice(2));
