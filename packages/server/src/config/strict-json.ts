/**
 * A configuration file that is plain JSON, read without the YAML parser
 * (issue 20: loading and running `yaml` was about 50 ms of CPU at every
 * start with a JSON file, paired restarts in docs/performance.md). The YAML reading rejects a key given twice
 * in one mapping (`uniqueKeys`), where `JSON.parse` keeps the last; so this
 * answers only for JSON without such keys, and everything else (comments,
 * YAML, a repeated key, a syntax error) goes to the YAML parser, which reads
 * JSON the same way (JSON is YAML 1.2) and words the errors as before.
 */
export function parseStrictJson(text: string): { value: unknown } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return hasRepeatedKey(text) ? undefined : { value };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * True when an object of `text` (valid JSON: JSON.parse took it) names a key
 * twice. Keys are compared decoded ("a" and "\u0061" are the same key).
 */
export function hasRepeatedKey(text: string): boolean {
  // One entry per open object or array: the keys seen so far (null for an array), and whether a key comes next.
  const keys: Array<Set<string> | null> = [];
  let keyNext = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i;
      // (Bounded by the length too, so that text JSON.parse did not take cannot loop here.)
      for (i++; i < text.length && text.charCodeAt(i) !== QUOTE; i++) if (text.charCodeAt(i) === BACKSLASH) i++;
      if (i >= text.length) return false;
      const seen = keys[keys.length - 1];
      if (keyNext && seen) {
        const raw = text.slice(start + 1, i);
        const key = raw.includes('\\') ? (JSON.parse(text.slice(start, i + 1)) as string) : raw;
        if (seen.has(key)) return true;
        seen.add(key);
        keyNext = false;
      }
    } else if (c === 0x7b /* { */) {
      keys.push(new Set());
      keyNext = true;
    } else if (c === 0x5b /* [ */) {
      keys.push(null);
      keyNext = false;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      keys.pop();
      keyNext = false;
    } else if (c === 0x2c /* , */) {
      keyNext = keys[keys.length - 1] != null;
    }
  }
  return false;
}
