import { FilterSyntaxError, parseFilter } from '../filter.js';
import type { FilterNode } from '../filter.js';
import { SCIM } from './errors.js';

/**
 * SCIM PATCH (RFC 7644 §3.5.2) applied to a resource's JSON, with the path
 * forms provisioning clients send:
 *
 *   {"op":"replace","path":"active","value":false}
 *   {"op":"Replace","path":"emails[type eq \"work\"].value","value":"a@b.c"}        (Entra ID)
 *   {"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"R&D"}
 *   {"op":"replace","value":{"active":false,"name.givenName":"Ann"}}               (no path: Okta, Entra)
 *   {"op":"remove","path":"members[value eq \"2819c223\"]"}
 *   {"op":"add","path":"members","value":[{"value":"2819c223"}]}
 *
 * Operation names are case-insensitive (Entra sends "Replace"). What the
 * patched JSON means is decided afterwards, as for a PUT of it.
 */

export interface PatchOperation {
  op: 'add' | 'replace' | 'remove';
  path?: string;
  value?: unknown;
}

type Json = Record<string, unknown>;

interface ParsedPath {
  /** The extension URN the attribute is in, or undefined for core attributes. */
  schema?: string;
  attr: string;
  filter?: FilterNode;
  sub?: string;
}

/** Parses the PatchOp body. @throws ScimError invalidSyntax */
export function parseOperations(body: unknown): PatchOperation[] {
  const b = body as { schemas?: unknown; Operations?: unknown; operations?: unknown };
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw SCIM.invalidSyntax('The body must be a PatchOp message.');
  const ops = b.Operations ?? b.operations;
  if (!Array.isArray(ops) || ops.length === 0) throw SCIM.invalidSyntax('Operations must be a non-empty list.');
  if (ops.length > 1000) throw SCIM.invalidSyntax('At most 1000 operations per request.');
  return ops.map((o, i) => {
    const op = typeof (o as Json)?.op === 'string' ? ((o as Json).op as string).toLowerCase() : '';
    if (op !== 'add' && op !== 'replace' && op !== 'remove') throw SCIM.invalidSyntax(`Operations[${i}].op must be add, replace or remove`);
    const path = (o as Json).path;
    if (path !== undefined && (typeof path !== 'string' || path.length > 1024)) throw SCIM.invalidPath(`Operations[${i}].path must be a string`);
    return { op, ...(path !== undefined && path !== '' ? { path } : {}), ...('value' in (o as Json) ? { value: (o as Json).value } : {}) } as PatchOperation;
  });
}

/**
 * Parses `attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub`, optionally
 * prefixed with a schema URN (`urn:…:User:attr`).
 * @throws ScimError invalidPath / invalidFilter
 */
export function parsePath(path: string, extensions: readonly string[]): ParsedPath {
  let rest = path.trim();
  let schema: string | undefined;
  if (/^urn:/i.test(rest)) {
    const ext = [...extensions].sort((a, b) => b.length - a.length).find((u) => rest.toLowerCase().startsWith(`${u.toLowerCase()}:`));
    if (!ext) throw SCIM.invalidPath(`Unknown schema in path "${path}"`);
    schema = ext;
    rest = rest.slice(ext.length + 1);
  }
  const bracket = rest.indexOf('[');
  if (bracket >= 0) {
    const close = rest.lastIndexOf(']');
    if (close < bracket) throw SCIM.invalidPath(`Unbalanced brackets in "${path}"`);
    const attr = rest.slice(0, bracket);
    let filter: FilterNode;
    try {
      filter = parseFilter(rest.slice(bracket + 1, close));
    } catch (err) {
      if (err instanceof FilterSyntaxError) throw SCIM.invalidFilter(`In path "${path}": ${err.message}`);
      throw err;
    }
    const after = rest.slice(close + 1);
    if (after && !/^\.[A-Za-z$][\w$]*$/.test(after)) throw SCIM.invalidPath(`Unexpected "${after}" in "${path}"`);
    if (!/^[A-Za-z$][\w$-]*$/.test(attr)) throw SCIM.invalidPath(`Invalid attribute in "${path}"`);
    return { ...(schema ? { schema } : {}), attr, filter, ...(after ? { sub: after.slice(1) } : {}) };
  }
  const parts = rest.split('.');
  if (parts.length > 2 || parts.some((p) => !/^[A-Za-z$][\w$-]*$/.test(p))) throw SCIM.invalidPath(`Invalid path "${path}"`);
  return { ...(schema ? { schema } : {}), attr: parts[0]!, ...(parts[1] ? { sub: parts[1] } : {}) };
}

/** The key of `name` in `obj`, compared case-insensitively (SCIM attribute names are). */
function keyOf(obj: Json, name: string): string {
  return Object.keys(obj).find((k) => k.toLowerCase() === name.toLowerCase()) ?? name;
}

/** Whether a multi-valued element matches a value filter (in memory: elements are few). */
export function matches(element: unknown, f: FilterNode): boolean {
  const get = (path: string): unknown => {
    if (element === null || typeof element !== 'object') return path.toLowerCase() === 'value' ? element : undefined;
    const o = element as Json;
    return o[keyOf(o, path)];
  };
  switch (f.type) {
    case 'and': return matches(element, f.left) && matches(element, f.right);
    case 'or': return matches(element, f.left) || matches(element, f.right);
    case 'not': return !matches(element, f.expr);
    case 'pr': return get(f.path) !== undefined && get(f.path) !== null && get(f.path) !== '';
    case 'valuePath': return false;
    case 'cmp': {
      const actual = get(f.path);
      const a = typeof actual === 'string' ? actual.toLowerCase() : actual;
      const v = typeof f.value === 'string' ? f.value.toLowerCase() : f.value;
      switch (f.op) {
        case 'eq': return a === v || (typeof actual === 'boolean' && String(actual) === String(v).toLowerCase());
        case 'ne': return a !== v;
        case 'co': return typeof a === 'string' && typeof v === 'string' && a.includes(v);
        case 'sw': return typeof a === 'string' && typeof v === 'string' && a.startsWith(v);
        case 'ew': return typeof a === 'string' && typeof v === 'string' && a.endsWith(v);
        case 'gt': return a !== undefined && a !== null && v !== null && a > v;
        case 'ge': return a !== undefined && a !== null && v !== null && a >= v;
        case 'lt': return a !== undefined && a !== null && v !== null && a < v;
        case 'le': return a !== undefined && a !== null && v !== null && a <= v;
      }
    }
  }
}

/** A new element for `attr[type eq "work"]` when none matches (what add, and Entra's replace, mean). */
function elementFor(filter: FilterNode): Json | undefined {
  if (filter.type === 'cmp' && filter.op === 'eq' && typeof filter.value === 'string') return { [filter.path]: filter.value };
  if (filter.type === 'and') {
    const l = elementFor(filter.left);
    const r = elementFor(filter.right);
    return l && r ? { ...l, ...r } : undefined;
  }
  return undefined;
}

/**
 * Applies the operations to a copy of `resource`; returns the result.
 * @throws ScimError (invalidPath, noTarget, invalidValue, mutability)
 */
export function applyPatch(resource: Json, operations: PatchOperation[], opts: { extensions: readonly string[]; readOnly: readonly string[] }): Json {
  const doc = structuredClone(resource);
  for (const op of operations) {
    if (op.path === undefined) {
      if (op.op === 'remove') throw SCIM.noTarget('remove needs a path');
      if (op.value === null || typeof op.value !== 'object' || Array.isArray(op.value)) throw SCIM.invalidValue('Without a path, value must be an object of attributes');
      for (const [key, value] of Object.entries(op.value as Json)) {
        // An extension given as an object: each of its attributes.
        const ext = opts.extensions.find((u) => u.toLowerCase() === key.toLowerCase());
        if (ext && value !== null && typeof value === 'object' && !Array.isArray(value)) {
          for (const [k, v] of Object.entries(value as Json)) applyOne(doc, { op: op.op, path: `${ext}:${k}`, value: v }, opts);
        } else {
          applyOne(doc, { op: op.op, path: key, value }, opts);
        }
      }
    } else {
      applyOne(doc, { ...op, path: op.path }, opts);
    }
  }
  return doc;
}

function applyOne(doc: Json, op: PatchOperation & { path: string }, opts: { extensions: readonly string[]; readOnly: readonly string[] }): void {
  const p = parsePath(op.path, opts.extensions);
  if (!p.schema && opts.readOnly.includes(p.attr.toLowerCase())) {
    // Okta sends the id back in a replace; setting a read-only attribute to what it is changes nothing.
    if (op.op === 'replace' && !p.sub && !p.filter && JSON.stringify(doc[keyOf(doc, p.attr)]) === JSON.stringify(op.value)) return;
    throw SCIM.mutability(`${p.attr} cannot be changed`);
  }
  let container: Json = doc;
  if (p.schema) {
    const k = keyOf(doc, p.schema);
    if (doc[k] === undefined || doc[k] === null || typeof doc[k] !== 'object') doc[k] = {};
    container = doc[k] as Json;
  }
  const key = keyOf(container, p.attr);

  if (p.filter) {
    const list = Array.isArray(container[key]) ? container[key] as unknown[] : [];
    const hits = list.filter((e) => matches(e, p.filter!));
    if (op.op === 'remove') {
      container[key] = p.sub
        ? list.map((e) => (hits.includes(e) && e && typeof e === 'object' ? Object.fromEntries(Object.entries(e as Json).filter(([k]) => k.toLowerCase() !== p.sub!.toLowerCase())) : e))
        : list.filter((e) => !hits.includes(e));
      return;
    }
    if (!hits.length) {
      const created = elementFor(p.filter);
      if (!created) throw SCIM.noTarget(`No value of ${p.attr} matches the filter in "${op.path}"`);
      container[key] = [...list, p.sub ? { ...created, [p.sub]: op.value } : { ...created, ...(op.value as Json) }];
      return;
    }
    container[key] = list.map((e) => {
      if (!hits.includes(e)) return e;
      if (p.sub) return { ...(e as Json), [keyOf(e as Json, p.sub)]: op.value };
      return op.op === 'add' ? { ...(e as Json), ...(op.value as Json) } : op.value;
    });
    return;
  }

  if (p.sub) {
    const parent = container[key] && typeof container[key] === 'object' && !Array.isArray(container[key]) ? container[key] as Json : {};
    if (op.op === 'remove') delete parent[keyOf(parent, p.sub)];
    else parent[keyOf(parent, p.sub)] = op.value;
    container[key] = parent;
    return;
  }

  if (op.op === 'remove') {
    // `members` with a value list: remove those members (Okta, Entra); otherwise the whole attribute.
    if (Array.isArray(container[key]) && Array.isArray(op.value)) {
      const gone = new Set((op.value as Json[]).map((v) => String(v?.value ?? '')));
      container[key] = (container[key] as Json[]).filter((e) => !gone.has(String(e?.value ?? '')));
    } else {
      delete container[key];
    }
    return;
  }
  const current = container[key];
  if (op.op === 'add' && Array.isArray(current)) {
    const added = Array.isArray(op.value) ? op.value : [op.value];
    // Adding a value already there changes nothing (RFC 7644 §3.5.2.1).
    container[key] = [...current, ...added.filter((a) => !current.some((c) => JSON.stringify(c) === JSON.stringify(a)))];
  } else if (op.op === 'add' && current && typeof current === 'object' && op.value && typeof op.value === 'object' && !Array.isArray(op.value)) {
    container[key] = { ...(current as Json), ...(op.value as Json) };
  } else {
    container[key] = op.value;
  }
}
