/**
 * A YAML (or JSON) syntax error as a person editing the file wants it: the
 * line and column, the message, and the offending line itself with a caret
 * under the column (with the line before it for context).
 */
export function yamlProblem(err: unknown, text: string): { problem: string; excerpt?: string } {
  const e = err as { message?: string; linePos?: { line: number; col: number }[] };
  // The library's message ends with its own " at line L, column C:" and a code frame; keep the sentence.
  const sentence = String(e.message ?? err).split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  const pos = e.linePos?.[0];
  if (!pos) return { problem: `not valid YAML or JSON: ${sentence}` };
  const lines = text.split(/\r?\n/);
  const width = String(pos.line).length;
  const row = (n: number) => `  ${String(n).padStart(width)} | ${lines[n - 1] ?? ''}`;
  const excerpt = [
    ...(pos.line > 1 ? [row(pos.line - 1)] : []),
    row(pos.line),
    `  ${' '.repeat(width)} | ${' '.repeat(Math.max(0, pos.col - 1))}^`,
  ].join('\n');
  return { problem: `not valid YAML or JSON: line ${pos.line}, column ${pos.col}: ${sentence}`, excerpt };
}
