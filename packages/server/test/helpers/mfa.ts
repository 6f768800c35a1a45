import { Secret, TOTP } from 'otpauth';
import { UserAgent, formAction } from './agent.js';
import { decodeHtml, hiddenInputs } from './forms.js';
import type { MfaHandler } from './flows.js';

/**
 * An authenticator app for tests: computes codes with `otpauth` from the
 * secret the setup page shows, and remembers the last time step it used,
 * because the server refuses a step at or below the last one (replay
 * protection). Within the accepted window (±1 step) that allows a few uses
 * per 30 s; beyond that, `nextCode` waits for the clock.
 */
export class Authenticator {
  private lastStep: number | null = null;
  readonly totp: TOTP;

  constructor(readonly secret: string) {
    this.totp = new TOTP({ algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(secret) });
  }

  /** The code of a given step (no bookkeeping): for replay and expiry tests. */
  codeAt(step: number): string {
    return this.totp.generate({ timestamp: step * 30_000 });
  }

  static currentStep(): number {
    return Math.floor(Date.now() / 30_000);
  }

  /** A code the server has not seen yet: the oldest acceptable step above the last one used. */
  async nextCode(): Promise<string> {
    for (;;) {
      const current = Authenticator.currentStep();
      const msIntoStep = Date.now() % 30_000;
      // The previous step only while a step boundary is not about to pass during the request.
      const candidates = msIntoStep < 25_000 ? [current - 1, current, current + 1] : [current, current + 1];
      const step = candidates.find((c) => this.lastStep === null || c > this.lastStep);
      if (step !== undefined) {
        this.lastStep = step;
        return this.codeAt(step);
      }
      await new Promise((r) => setTimeout(r, 30_000 - msIntoStep + 200));
    }
  }

  /** Tells the authenticator a code at this step was used elsewhere. */
  used(step: number): void {
    this.lastStep = Math.max(this.lastStep ?? -Infinity, step);
  }
}

/** The secret on a TOTP setup page (shown as text, grouped by four). */
export function secretFromPage(html: string): string {
  const m = /<code class="secret" id="totp-secret">([^<]+)<\/code>/.exec(html);
  if (!m) throw new Error(`no TOTP secret on the page: ${html.slice(0, 400)}`);
  return decodeHtml(m[1]!).replace(/\s/g, '');
}

/** The recovery codes on a "save your recovery codes" page. */
export function recoveryCodesFromPage(html: string): string[] {
  const list = /<ol class="codes" id="recovery-codes">([\s\S]*?)<\/ol>/.exec(html)?.[1] ?? '';
  return [...list.matchAll(/<code>([^<]+)<\/code>/g)].map((m) => decodeHtml(m[1]!));
}

export interface Enrollment {
  authenticator: Authenticator;
  /** Present when this was the user's first second factor. */
  recoveryCodes: string[];
  html: string;
  response: Response;
}

/**
 * Enrolls an authenticator app from /account/security (signed-in agent):
 * starts the setup, reads the secret from the page text, confirms with a first code.
 */
export async function enrollTotp(agent: UserAgent, issuer: string, label = 'Phone'): Promise<Enrollment> {
  const security = await agent.get(`${issuer}/account/security`);
  const securityHtml = await security.text();
  if (security.status !== 200) throw new Error(`GET /account/security: ${security.status}`);
  const start = await agent.post(new URL(formAction(securityHtml, '/account/security/totp'), issuer), hiddenInputs(securityHtml));
  const setupHtml = await start.text();
  if (start.status !== 200) throw new Error(`start TOTP: ${start.status} ${setupHtml.slice(0, 300)}`);
  const authenticator = new Authenticator(secretFromPage(setupHtml));
  const response = await agent.post(new URL(formAction(setupHtml, '/totp/confirm'), issuer),
    { ...hiddenInputs(setupHtml), label, code: await authenticator.nextCode() });
  const html = response.status === 200 ? await response.text() : '';
  return { authenticator, recoveryCodes: recoveryCodesFromPage(html), html, response };
}

/** True when the page is the sign-in MFA challenge (as opposed to setup or a notice). */
export function isChallenge(html: string): boolean {
  return /action="[^"]*\/mfa\/totp"/.test(html) || /action="[^"]*\/mfa\/recovery"/.test(html);
}

/** An MFA handler answering the challenge with the authenticator's next code (and "continue" on notices). */
export function totpHandler(authenticator: Authenticator): MfaHandler {
  return async (html, url, agent) => {
    const base = new URL(url);
    if (/\/mfa\/continue"/.test(html)) return agent.post(new URL(formAction(html, '/mfa/continue'), base), {});
    return agent.post(new URL(formAction(html, '/mfa/totp'), base), { code: await authenticator.nextCode() });
  };
}

/** An MFA handler answering with a recovery code. */
export function recoveryHandler(code: string): MfaHandler {
  return async (html, url, agent) => {
    const base = new URL(url);
    if (/\/mfa\/continue"/.test(html)) return agent.post(new URL(formAction(html, '/mfa/continue'), base), {});
    return agent.post(new URL(formAction(html, '/mfa/recovery'), base), { code });
  };
}

/**
 * An MFA handler for a user who must enroll during the sign-in: reads the
 * secret from the setup page, confirms a first code, records the recovery
 * codes shown once, then continues.
 */
export function enrollHandler(out: { authenticator?: Authenticator; recoveryCodes?: string[]; setupHtml?: string }): MfaHandler {
  return async (html, url, agent) => {
    const base = new URL(url);
    if (/\/mfa\/continue"/.test(html)) {
      out.recoveryCodes = recoveryCodesFromPage(html);
      return agent.post(new URL(formAction(html, '/mfa/continue'), base), {});
    }
    if (/\/mfa\/enroll"/.test(html)) {
      out.setupHtml = html;
      out.authenticator = new Authenticator(secretFromPage(html));
      return agent.post(new URL(formAction(html, '/mfa/enroll'), base), { ...hiddenInputs(html), label: 'Phone', code: await out.authenticator.nextCode() });
    }
    if (out.authenticator && isChallenge(html)) return totpHandler(out.authenticator)(html, url, agent);
    throw new Error(`unexpected MFA page: ${html.slice(0, 400)}`);
  };
}

/**
 * Signs in to the account pages (/account) as a person would, answering the
 * MFA pages with `mfa` (challenge, or enrollment when required). Returns the
 * signed-in agent.
 */
export async function signInToAccount(issuer: string, creds: { username: string; password: string }, mfa?: MfaHandler, tenant?: string): Promise<UserAgent> {
  const agent = new UserAgent();
  // `?tenant=`: whose users sign in (the account pages serve every tenant).
  const start = `${issuer}/account${tenant ? `?tenant=${encodeURIComponent(tenant)}` : ''}`;
  let { res, url } = await agent.follow(await agent.get(start), start);
  const action = new URL(formAction(await res.text(), '/login'), issuer);
  ({ res, url } = await agent.follow(await agent.post(action, creds), action.href));
  for (let i = 0; i < 4 && new URL(url).pathname !== '/account'; i++) {
    const html = await res.text();
    if (!mfa) throw new Error(`MFA page without a handler at ${url}: ${html.slice(0, 300)}`);
    ({ res, url } = await agent.follow(await mfa(html, url, agent), url));
  }
  if (new URL(url).pathname !== '/account' || res.status !== 200) throw new Error(`not signed in: ${res.status} at ${url}`);
  return agent;
}
