/**
 * The filter expressions of SCIM (RFC 7644 §3.4.2.2), which Okta's Users API
 * also speaks in its `filter` and `search` parameters:
 *
 *   userName eq "bjensen" and (meta.lastModified gt "2011-05-13T04:42:34Z" or not (title pr))
 *   emails[type eq "work" and value co "@example.com"]
 *
 * Precedence: `not`, then `and`, then `or`; parentheses group. Attribute
 * names are case-insensitive; string values are JSON strings.
 */

export type CompareOp = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le';
export type FilterValue = string | number | boolean | null;

export type FilterNode =
  | { type: 'and' | 'or'; left: FilterNode; right: FilterNode }
  | { type: 'not'; expr: FilterNode }
  | { type: 'pr'; path: string }
  | { type: 'cmp'; op: CompareOp; path: string; value: FilterValue }
  /** `emails[type eq "work"]`: the sub-filter applies to each value of a multi-valued attribute. */
  | { type: 'valuePath'; path: string; filter: FilterNode; subAttr?: string };

/** A filter that does not parse; `message` says where. */
export class FilterSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FilterSyntaxError';
  }
}

type Token =
  | { kind: 'word'; text: string; at: number }
  | { kind: 'string'; value: string; at: number }
  | { kind: 'number'; value: number; at: number }
  | { kind: 'punct'; text: '(' | ')' | '[' | ']'; at: number };

const OPS = new Set(['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le']);
const MAX_LENGTH = 4096;
const MAX_DEPTH = 32;

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') { i++; continue; }
    if (c === '(' || c === ')' || c === '[' || c === ']') { tokens.push({ kind: 'punct', text: c, at: i }); i++; continue; }
    if (c === '"') {
      // A JSON string: its escapes are JSON's.
      let j = i + 1;
      while (j < input.length && input[j] !== '"') j += input[j] === '\\' ? 2 : 1;
      if (j >= input.length) throw new FilterSyntaxError(`unterminated string at ${i}`);
      try {
        tokens.push({ kind: 'string', value: JSON.parse(input.slice(i, j + 1)) as string, at: i });
      } catch {
        throw new FilterSyntaxError(`invalid string at ${i}`);
      }
      i = j + 1;
      continue;
    }
    const num = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(input.slice(i));
    if (num && (i === 0 || /[\s([]/.test(input[i - 1]!))) {
      tokens.push({ kind: 'number', value: Number(num[0]), at: i });
      i += num[0].length;
      continue;
    }
    const word = /^[A-Za-z][A-Za-z0-9_:.$-]*/.exec(input.slice(i));
    if (!word) throw new FilterSyntaxError(`unexpected "${c}" at ${i}`);
    tokens.push({ kind: 'word', text: word[0], at: i });
    i += word[0].length;
  }
  return tokens;
}

/** @throws FilterSyntaxError */
export function parseFilter(input: string): FilterNode {
  if (input.length > MAX_LENGTH) throw new FilterSyntaxError(`the filter is longer than ${MAX_LENGTH} characters`);
  const tokens = tokenize(input);
  let pos = 0;
  const peek = () => tokens[pos];
  const isWord = (t: Token | undefined, w: string): boolean => t?.kind === 'word' && t.text.toLowerCase() === w;
  const expect = (text: string) => {
    const t = tokens[pos];
    if (t?.kind !== 'punct' || t.text !== text) throw new FilterSyntaxError(`expected "${text}"${t ? ` at ${t.at}` : ' at the end'}`);
    pos++;
  };

  const orExpr = (depth: number): FilterNode => {
    if (depth > MAX_DEPTH) throw new FilterSyntaxError('the filter nests too deeply');
    let left = andExpr(depth);
    while (isWord(peek(), 'or')) {
      pos++;
      left = { type: 'or', left, right: andExpr(depth) };
    }
    return left;
  };
  const andExpr = (depth: number): FilterNode => {
    let left = notExpr(depth);
    while (isWord(peek(), 'and')) {
      pos++;
      left = { type: 'and', left, right: notExpr(depth) };
    }
    return left;
  };
  const notExpr = (depth: number): FilterNode => {
    if (isWord(peek(), 'not')) {
      pos++;
      expect('(');
      const expr = orExpr(depth + 1);
      expect(')');
      return { type: 'not', expr };
    }
    return primary(depth);
  };
  const primary = (depth: number): FilterNode => {
    const t = peek();
    if (t?.kind === 'punct' && t.text === '(') {
      pos++;
      const expr = orExpr(depth + 1);
      expect(')');
      return expr;
    }
    if (t?.kind !== 'word') throw new FilterSyntaxError(t ? `expected an attribute at ${t.at}` : 'the filter ends too early');
    pos++;
    const path = t.text;
    const next = peek();
    if (next?.kind === 'punct' && next.text === '[') {
      pos++;
      const filter = orExpr(depth + 1);
      expect(']');
      // `emails[type eq "work"].value` (PATCH paths) is parsed by the caller; here a trailing `.sub` may follow.
      return { type: 'valuePath', path, filter };
    }
    const opToken = peek();
    if (opToken?.kind !== 'word') throw new FilterSyntaxError(`expected an operator after ${path}`);
    const op = opToken.text.toLowerCase();
    pos++;
    if (op === 'pr') return { type: 'pr', path };
    if (!OPS.has(op)) throw new FilterSyntaxError(`unknown operator "${opToken.text}" at ${opToken.at}`);
    const v = peek();
    pos++;
    let value: FilterValue;
    if (v?.kind === 'string' || v?.kind === 'number') value = v.value;
    else if (isWord(v, 'true')) value = true;
    else if (isWord(v, 'false')) value = false;
    else if (isWord(v, 'null')) value = null;
    else throw new FilterSyntaxError(`expected a value after ${path} ${op}`);
    return { type: 'cmp', op: op as CompareOp, path, value };
  };

  const tree = orExpr(0);
  if (pos < tokens.length) throw new FilterSyntaxError(`unexpected "${(tokens[pos] as { text?: string }).text ?? '…'}" at ${tokens[pos]!.at}`);
  return tree;
}
