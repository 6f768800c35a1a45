import { expect, test } from 'vitest';
import { readFileSync } from 'node:fs';

/**
 * The console's audit filter suggests every action the platform records
 * (packages/console/src/views/audit.tsx ↔ src/audit/events.ts): a new event
 * type that the console does not offer fails here.
 */
const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8');
const quoted = (text: string) => new Set([...text.matchAll(/'([a-z_]+\.[a-z_.]+)'/g)].map((m) => m[1]!));

test('the console offers exactly the event types the platform records', () => {
  const events = read('../src/audit/events.ts');
  const union = events.slice(events.indexOf('export type DomainEventType'), events.indexOf('export interface EventContext'))
    .replace(/\/\*\*[\s\S]*?\*\//g, '');
  const console = read('../../console/src/views/audit.tsx');
  const list = console.slice(console.indexOf('const ACTIONS = ['), console.indexOf('];', console.indexOf('const ACTIONS = [')));
  const recorded = quoted(union);
  expect(recorded.size).toBeGreaterThan(50);
  expect([...quoted(list)].sort()).toEqual([...recorded].sort());
});
