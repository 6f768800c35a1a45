import type { z } from 'zod';

/**
 * zod issues → `fields` of a `validation_failed` answer: the dotted path of
 * each offending field → a stable code, the codes the registration API uses
 * where the rule is the same (docs/errors.md#admin-api-field-codes).
 * `fallback` names an issue about the whole value; `prefix` roots the paths
 * (e.g. `policy`).
 */
export function zodFields(error: z.ZodError, input: unknown, fallback = 'body', prefix: PropertyKey[] = []): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) fields[[...prefix, ...issue.path, key].join('.')] = 'unknown_field';
      continue;
    }
    const path = [...prefix, ...issue.path].join('.') || fallback;
    fields[path] ??= fieldCode(issue, valueAt(input, issue.path));
  }
  return fields;
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  let v = input;
  for (const key of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[key] : undefined;
  return v;
}

/** zod issue → stable field code. */
function fieldCode(issue: z.core.$ZodIssue, value: unknown): string {
  switch (issue.code) {
    case 'invalid_type':
      return value === undefined ? 'required' : 'invalid';
    case 'too_small':
      return issue.origin === 'string' ? (value === '' ? 'required' : 'too_short') : issue.origin === 'array' || issue.origin === 'set' ? 'too_few' : 'too_small';
    case 'too_big':
      return issue.origin === 'string' ? 'too_long' : issue.origin === 'array' || issue.origin === 'set' ? 'too_many' : 'too_large';
    case 'invalid_format':
      return issue.format === 'email' ? 'invalid_email' : 'invalid';
    case 'custom':
      return typeof issue.params?.code === 'string' ? issue.params.code : 'invalid';
    default:
      return 'invalid';
  }
}
