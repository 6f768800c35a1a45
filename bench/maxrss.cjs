/* global process */
// Preloaded into the CLI child by bench/users.ts (NODE_OPTIONS=--require): reports the process's peak resident set size at exit.
process.on('exit', () => {
  process.stderr.write(`\nmaxrss_kib=${process.resourceUsage().maxRSS}\n`);
});
