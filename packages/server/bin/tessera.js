#!/usr/bin/env node
// The `tessera` command. Runs the compiled JavaScript (packages/server/dist,
// built by `npm ci`) when it is up to date with the sources, else the
// TypeScript sources through tsx with a one-line notice (bin/launch.js says
// how "up to date" is decided). tsx compiling ~400 files at every start cost
// three quarters of start-up CPU and much of the idle memory (issue 20).
import module from 'node:module';
import { chooseEntry } from './launch.js';

// Node >= 22.1 keeps the bytecode of compiled modules on disk (in the OS temp directory; NODE_DISABLE_COMPILE_CACHE=1
// turns it off), so later starts skip most of compiling the dependencies' JavaScript, the largest part of
// start-up (issue 20, docs/performance.md#loading-on-first-use). Node 20 has no such cache: nothing happens there.
module.enableCompileCache?.();

const choice = chooseEntry();
let runCli;
if (choice.source) {
  if (!choice.quiet) console.error(`tessera: running the TypeScript sources through tsx (${choice.reason}; \`npm run build\` compiles them for a faster start)`);
  const { register } = await import('tsx/esm/api');
  register();
  ({ runCli } = await import('../src/cli.ts'));
} else {
  ({ runCli } = await import(choice.url));
}
process.exitCode = await runCli(process.argv.slice(2));
