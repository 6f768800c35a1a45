import type { z } from 'zod';
import { closest } from './suggest.js';

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

/**
 * zod issues as `path: message` lines for the person editing the file: "must
 * be an array (got a string)", and "did you mean …?" for a misspelt key or
 * enum value when `schema` is given (parse with `reportInput: true` for the
 * "got" part and value suggestions).
 */
export function formatIssues(error: z.ZodError, schema?: z.ZodType): string[] {
  return error.issues.map((issue) => {
    const where = formatPath(issue.path) || '(root)';
    if (issue.code === 'unrecognized_keys') {
      const known = schema ? knownKeysAt(schema, issue.path) : [];
      const keys = issue.keys.map((k) => {
        const guess = closest(k, known.filter((c) => !issue.keys.includes(c)));
        return guess ? `"${k}" (did you mean "${guess}"?)` : `"${k}"`;
      });
      return `${where}: unknown key${issue.keys.length > 1 ? 's' : ''} ${keys.join(', ')}`;
    }
    if (issue.code === 'invalid_type') {
      const input = (issue as { input?: unknown }).input;
      // zod does not keep the input unless asked; its message says what it received.
      if (/received undefined/.test(issue.message) || ('input' in issue && input === undefined)) return `${where}: is required`;
      // (Coerced numbers arrive as NaN: "got a number" would only confuse.)
      const got = 'input' in issue && typeName(input) !== issue.expected && !Number.isNaN(input) ? ` (got ${withArticle(typeName(input))})` : '';
      return `${where}: must be ${withArticle(issue.expected)}${got}`;
    }
    if (issue.code === 'invalid_value' && typeof (issue as { input?: unknown }).input === 'string') {
      const guess = closest((issue as { input: string }).input, issue.values.filter((v): v is string => typeof v === 'string'));
      return `${where}: ${issue.message}${guess ? ` (did you mean "${guess}"?)` : ''}`;
    }
    return `${where}: ${issue.message}`;
  });
}

/** "array" → "an array", "string" → "a string". */
export function withArticle(noun: string): string {
  return `${/^[aeiou]/i.test(noun) ? 'an' : 'a'} ${noun}`;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  if (typeof value === 'object') return 'mapping';
  return typeof value;
}

interface SchemaDef {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  element?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  options?: z.ZodType[];
}

const defOf = (schema: z.ZodType): SchemaDef => (schema as unknown as { _zod: { def: SchemaDef } })._zod.def;

/** The keys an object in `schema` at `path` accepts (through defaults, optionals, pipes and arrays). */
export function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let current: z.ZodType | undefined = schema;
  const unwrap = (s: z.ZodType): z.ZodType => {
    let d = defOf(s);
    while (d.innerType || (d.type === 'pipe' && d.in)) {
      s = (d.innerType ?? d.in)!;
      d = defOf(s);
    }
    return s;
  };
  for (const part of path) {
    if (!current) return [];
    const d = defOf(unwrap(current));
    if (typeof part === 'number') current = d.element;
    else current = d.shape?.[String(part)];
  }
  if (!current) return [];
  return Object.keys(defOf(unwrap(current)).shape ?? {});
}
