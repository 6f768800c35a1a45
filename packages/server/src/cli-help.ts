import { closest } from './config/suggest.js';

/**
 * Help generated from the one usage text in cli.ts, so a command added
 * there (by any feature) is listed by `tessera <group>` without anyone
 * writing a second list: `tessera users` prints every `users …` entry.
 */

interface UsageEntry {
  /** The command words, e.g. `users set-password`. */
  command: string;
  /** The entry's lines as written in the usage text. */
  text: string;
}

/** The usage text's entries: a line indented by two spaces starts one, deeper-indented lines continue it. */
export function usageEntries(usage: string): UsageEntry[] {
  const entries: UsageEntry[] = [];
  for (const line of usage.split('\n')) {
    if (/^ {2}[a-z]/.test(line)) {
      const words: string[] = [];
      // The synopsis ends where the description column starts (two or more spaces).
      for (const w of line.trim().split(/\s{2,}/)[0]!.split(' ')) {
        if (!/^[a-z][a-z-]*$/.test(w)) break;
        words.push(w);
      }
      entries.push({ command: words.join(' '), text: line });
    } else if (/^ {3,}\S/.test(line) && entries.length) {
      entries.at(-1)!.text += `\n${line}`;
    }
  }
  return entries;
}

/**
 * What to say for a command the dispatcher does not know: a group's own
 * listing (`tessera users`, `tessera users --help`: exit 0), or an
 * unknown command with a suggestion and the relevant listing (exit 2).
 */
export function unknownCommand(argv: string[], usage: string, out: Pick<Console, 'log' | 'error'> = console): number {
  const entries = usageEntries(usage);
  const [group, sub] = argv;
  const members = entries.filter((e) => e.command.startsWith(`${group} `));
  if (members.length && (sub === undefined || ['help', '--help', '-h'].includes(sub))) {
    out.log(`usage: tessera ${group} <command>\n\n${members.map((e) => e.text).join('\n')}`);
    return 0;
  }
  const typed = argv.filter((a) => !a.startsWith('-')).slice(0, 2).join(' ');
  const guess = closest(typed, entries.map((e) => e.command)) ?? (members.length ? undefined : closest(group ?? '', entries.map((e) => e.command.split(' ')[0]!)));
  const hint = guess ? ` (did you mean "tessera ${guess}"?)` : '';
  const listing = members.length ? `the ${group} commands:\n\n${members.map((e) => e.text).join('\n')}` : usage;
  out.error(`tessera: unknown command "${argv.join(' ')}"${hint}\n\n${listing}`);
  return 2;
}
