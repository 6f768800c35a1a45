import type { z } from 'zod';

/** A configuration problem, reported as `path: message` lines before anything starts. */
export class ConfigError extends Error {
  /**
   * One problem is told on one line (`invalid configuration in SOURCE: PROBLEM`), several as a list.
   * `opts.headline` replaces the first line (e.g. a file that cannot be read is not "invalid");
   * `opts.excerpt` follows it (the lines of a YAML syntax error, with a caret).
   */
  constructor(readonly problems: string[], source: string, opts: { headline?: string; excerpt?: string } = {}) {
    const text = opts.headline
      ?? (problems.length === 1 ? `invalid configuration in ${source}: ${problems[0]}` : `invalid configuration in ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    super(opts.excerpt ? `${text}\n${opts.excerpt}` : text);
    this.name = 'ConfigError';
  }
}

/** `['clients', 2, 'redirect_uris', 0]` → `clients[2].redirect_uris[0]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, part) =>
    typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part), '');
}

export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const where = formatPath(issue.path) || '(root)';
    if (issue.code === 'unrecognized_keys') return `${where}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    if (issue.code === 'invalid_type') {
      // zod does not keep the input; its message says what it received.
      return /received undefined/.test(issue.message) ? `${where}: is required` : `${where}: must be a ${issue.expected}`;
    }
    return `${where}: ${issue.message}`;
  });
}
