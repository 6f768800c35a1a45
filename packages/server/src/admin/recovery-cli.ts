import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Platform } from '../platform.js';
import type { User } from '../identity/model.js';
import { isLocked } from '../identity/model.js';
import { checkPassword } from '../identity/password-policy.js';
import type { TenantPolicy } from '../identity/policy.js';
import { createSessionMetaRepository } from '../account/session-meta.js';

/**
 * Administrator recovery from the command line (docs/operations.md, "lost
 * the first administrator's password"): whoever can run `tessera` against
 * the store can already read and write it, so these commands need no
 * sign-in. Every change is in the audit log (`via: cli`).
 */

export interface Who {
  username?: string;
  email?: string;
  tenant: string;
}

/** Parses `--username U | --email E [--tenant T]` and boolean `flags`; undefined (after printing usage) unless exactly one of username and email is given. */
export function parseWho(args: string[], usage: string, flags: string[] = []): (Who & Record<string, unknown>) | undefined {
  const { values } = parseArgs({
    args,
    options: {
      username: { type: 'string' }, email: { type: 'string' }, tenant: { type: 'string', default: 'default' },
      ...Object.fromEntries(flags.map((f) => [f, { type: 'boolean' as const, default: false }])),
    },
  });
  const v = values as Record<string, unknown>;
  if (!v.username === !v.email) {
    console.error(`usage: ${usage}`);
    return undefined;
  }
  return v as Who & Record<string, unknown>;
}

async function findUser(p: Platform, who: Who, command: string): Promise<User | undefined> {
  const user = who.username ? await p.users.findByUsername(who.tenant, who.username) : await p.users.findByEmail(who.tenant, who.email!);
  if (!user) console.error(`tessera ${command}: no user ${who.username ?? who.email} in tenant ${who.tenant}`);
  return user;
}

const VIOLATION_TEXT: Record<string, (policy: TenantPolicy['password']) => string> = {
  too_short: (policy) => `must be at least ${policy.min_length} characters`,
  too_long: (policy) => `must be at most ${policy.max_length} characters`,
  common_password: () => 'is a well-known password; choose another',
  same_as_identifier: () => 'must not be the username or email address',
};

/**
 * `tessera users set-password`: sets a user's password from a hidden prompt
 * (a terminal), from the first line of stdin (a script), or, with
 * `--generate`, a generated one printed once. The tenant's password policy
 * applies. As after a password reset, the account is signed out everywhere
 * and failed sign-ins and a temporary lock are forgotten; an administrator's
 * lock and a disabled status stay (the command says so).
 */
export async function setPasswordCommand(p: Platform, who: Who & { generate?: boolean }, input: NodeJS.ReadStream = process.stdin): Promise<number> {
  const user = await findUser(p, who, 'users set-password');
  if (!user) return 2;
  const policy = (await p.tenants.findById(user.tenantId))?.policy.password;
  let password: string;
  if (who.generate) {
    password = randomBytes(15).toString('base64url');
  } else {
    const typed = await readPassword(input, `New password for ${user.username ?? user.email}: `);
    if (!typed) {
      console.error('tessera users set-password: no password given: type it at the prompt, pipe it on stdin, or use --generate');
      return 2;
    }
    password = typed;
  }
  const violations = policy ? checkPassword(password, policy, { username: user.username, email: user.email }) : [];
  if (violations.length) {
    console.error(`tessera users set-password: the password ${VIOLATION_TEXT[violations[0]!]?.(policy!) ?? violations[0]} (tenant ${user.tenantId}'s policy)`);
    return 2;
  }
  await p.identity.setPassword(user.id, password);
  await p.users.clearLockout(user.id);
  // As after a password reset: whoever held the old password is signed out (sessions, grants, tokens).
  const revoked = await p.payloads.revokeByAccount(user.id);
  await createSessionMetaRepository(p.db).deleteByAccount(user.id);
  await p.events.emit({
    type: 'user.password_set', tenantId: user.tenantId, subjectId: user.id, context: {},
    data: { via: 'cli', generated: Boolean(who.generate), artefacts_revoked: revoked },
  }, (err) => p.log.error({ err }, 'event listener failed'));
  console.log(`set the password of ${user.username ?? user.email} (${user.id}) in tenant ${user.tenantId}; signed out everywhere`);
  if (who.generate) console.log(`password: ${password}\n(shown only this once)`);
  const after = (await p.users.findById(user.id))!;
  if (after.status === 'locked') console.log('the account is still locked by an administrator: run `tessera users unlock` to let it sign in');
  if (after.status === 'disabled') console.log('the account is disabled: enable it in the admin console or with POST /api/admin/v1/users/{id}/enable');
  return 0;
}

/** `tessera users unlock`: ends a temporary or an administrator's lock and forgets failed sign-ins. */
export async function unlockCommand(p: Platform, who: Who): Promise<number> {
  const user = await findUser(p, who, 'users unlock');
  if (!user) return 2;
  // Failures from a known device or address lock only that source (docs/security.md#lockout-and-throttling): an unlock ends those too.
  const sources = await p.signInSources.hasFailures(user.id);
  const wasLocked = isLocked(user) || user.status === 'locked' || sources.locked;
  if (!wasLocked && user.failedLogins === 0 && !sources.failures) {
    console.log(`${user.username ?? user.email} is not locked`);
  } else {
    await p.users.clearLockout(user.id);
    // In the database, clearLockout ended the counts with the lock; in Redis they are forgotten there.
    if (p.signInSources.counters.kind === 'redis') await p.signInSources.clear(user.id);
    if ((await p.users.findById(user.id))?.status === 'locked') await p.users.updateProfile(user.id, { status: 'active' });
    await p.events.emit({ type: 'user.unlocked', tenantId: user.tenantId, subjectId: user.id, context: {}, data: { via: 'cli', was_locked: wasLocked } },
      (err) => p.log.error({ err }, 'event listener failed'));
    console.log(`unlocked ${user.username ?? user.email} (${user.id}) in tenant ${user.tenantId}${wasLocked ? '' : ' (it was not locked; failed sign-ins forgotten)'}`);
  }
  if (user.status === 'disabled') console.log('the account is disabled: enable it in the admin console or with POST /api/admin/v1/users/{id}/enable');
  return 0;
}

/**
 * A password from a terminal (asked twice, not echoed) or the first line of
 * a pipe. Returns '' when nothing was given or the two entries differ.
 */
async function readPassword(input: NodeJS.ReadStream, question: string): Promise<string> {
  if (!input.isTTY) {
    const rl = createInterface({ input, terminal: false });
    for await (const line of rl) {
      rl.close();
      return line;
    }
    return '';
  }
  const first = await promptHidden(input, question);
  const second = await promptHidden(input, 'Repeat it: ');
  if (first !== second) {
    console.error('tessera users set-password: the two entries differ');
    return '';
  }
  return first;
}

/** Reads one line in raw mode without echoing it; Ctrl-C and Ctrl-D give ''. */
function promptHidden(input: NodeJS.ReadStream, question: string): Promise<string> {
  return new Promise((resolve) => {
    let value = '';
    // Echo off before the question appears: whatever is typed after it is never shown.
    input.setRawMode(true);
    input.resume();
    input.setEncoding('utf8');
    process.stdout.write(question);
    const done = (result: string) => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      process.stdout.write('\n');
      resolve(result);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done(value);
        if (ch === '\u0003' || ch === '\u0004') return done('');
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
      }
    };
    input.on('data', onData);
  });
}
