/**
 * Streaming record splitting for imports: JSONL (one JSON object a line) and
 * CSV (RFC 4180: quoted fields may hold commas, quotes as "" and line breaks).
 * Works on bytes, so a record's byte offset (progress, the resume checkpoint)
 * is exact and invalid UTF-8 is a per-record error, not a crash or a silent
 * U+FFFD. Memory is bounded by the largest record (`maxRecordBytes`).
 */
export interface RawRecord {
  /** 1-based line the record starts on. */
  line: number;
  /** Byte offset just past the record (and its line break). */
  end: number;
  /** The line the next record starts on. */
  next: number;
  /** The record's text, or why it could not be read. */
  text?: string;
  error?: 'invalid_utf8' | 'too_large';
}

const NL = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;

/**
 * Splits a byte stream into records. `offset`/`line` say where the stream
 * starts in the file (a resumed import). Blank lines are skipped.
 */
export async function* readRecords(chunks: AsyncIterable<Buffer>, opts: { csv: boolean; maxRecordBytes: number; offset?: number; line?: number }): AsyncGenerator<RawRecord> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let parts: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  let inQuotes = false;
  let offset = opts.offset ?? 0;
  let line = opts.line ?? 1;
  let startLine = line;
  let newlinesInRecord = 0;

  const finish = (end: number): RawRecord | undefined => {
    const record: RawRecord = { line: startLine, end, next: startLine + newlinesInRecord + 1 };
    if (tooLarge) record.error = 'too_large';
    else {
      let buf = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
      if (buf.length && buf[buf.length - 1] === CR) buf = buf.subarray(0, buf.length - 1);
      // A byte-order mark at the very start of the file is not data.
      if (startLine === 1 && buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) buf = buf.subarray(3);
      if (buf.length === 0) record.text = '';
      else {
        try {
          record.text = decoder.decode(buf);
        } catch {
          record.error = 'invalid_utf8';
        }
      }
    }
    parts = [];
    size = 0;
    tooLarge = false;
    inQuotes = false;
    line += newlinesInRecord + 1;
    startLine = line;
    newlinesInRecord = 0;
    return record.text === '' && !record.error ? undefined : record;
  };

  for await (const chunk of chunks) {
    let from = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (opts.csv && b === QUOTE) inQuotes = !inQuotes;
      if (b !== NL) continue;
      if (inQuotes) {
        newlinesInRecord += 1;
        continue;
      }
      append(chunk.subarray(from, i));
      from = i + 1;
      const r = finish(offset + i + 1);
      if (r) yield r;
    }
    append(chunk.subarray(from));
    offset += chunk.length;
  }
  if (size > 0 || tooLarge) {
    const r = finish(offset);
    if (r) yield r;
  }

  function append(piece: Buffer) {
    if (tooLarge || piece.length === 0) return;
    if (size + piece.length > opts.maxRecordBytes) {
      tooLarge = true;
      parts = [];
      size = 0;
      return;
    }
    parts.push(Buffer.from(piece));
    size += piece.length;
  }
}

/** Splits one CSV record into fields (RFC 4180). Returns undefined for a malformed one (a stray quote). */
export function csvFields(text: string): string[] | undefined {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (text[i] === '"') {
      let value = '';
      i += 1;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) return undefined;
        value += text.slice(i, q);
        if (text[q + 1] === '"') {
          value += '"';
          i = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      fields.push(value);
      if (i === text.length) return fields;
      if (text[i] !== ',') return undefined;
      i += 1;
    } else {
      const comma = text.indexOf(',', i);
      const value = comma < 0 ? text.slice(i) : text.slice(i, comma);
      if (value.includes('"')) return undefined;
      fields.push(value);
      if (comma < 0) return fields;
      i = comma + 1;
    }
  }
}
