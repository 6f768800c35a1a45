import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import { csp, errorPage, pickerPage, SECURITY_HEADERS } from './pages.js';
import type { MockName, Persona } from './personas.js';
import { buildSignIn, isScenario, scenariosFor, type Scenario, type SignIn } from './scenarios.js';

export interface InteractionDeps {
  name: MockName;
  label: string;
  provider: Provider;
  personas: Persona[];
  localEmail: string;
  /** The next queued sign-in for this mock (set by tests with nextSignIn), if any. */
  takeQueued(): { persona: string; scenario: Scenario } | undefined;
  record(signIn: SignIn, grantId: string): void;
}

const MAX_FORM = 16 * 1024;

export function sendHtml(res: ServerResponse, status: number, html: string, formTargets: string[] = [], scriptHash?: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8', 'content-security-policy': csp(formTargets, scriptHash) });
  res.end(html);
}

export async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return undefined;
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_FORM) return undefined;
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** `persona`, `persona:scenario`, or a persona's email (optionally `:scenario`). */
function parseHint(hint: string, personas: Persona[]): { persona?: Persona; scenario?: string; explicit: boolean } {
  const i = hint.lastIndexOf(':');
  const who = i >= 0 ? hint.slice(0, i) : hint;
  const scenario = i >= 0 ? hint.slice(i + 1) : 'ok';
  const persona = personas.find((p) => p.id === who) ?? personas.find((p) => p.email && p.email.toLowerCase() === who.toLowerCase());
  return { persona, scenario, explicit: i >= 0 };
}

/**
 * GET/POST /{mock}/interaction/{uid}: the persona picker. A queued sign-in or a
 * `login_hint=persona:scenario` completes at once; otherwise the page asks.
 */
export async function handleInteraction(d: InteractionDeps, uid: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let details: Awaited<ReturnType<Provider['interactionDetails']>>;
  try {
    details = await d.provider.interactionDetails(req, res);
  } catch {
    sendHtml(res, 400, errorPage('Sign-in expired', 'This sign-in is unknown or has expired (or the browser did not send its cookie). Start again from the application.'));
    return;
  }
  if (details.uid !== uid) {
    sendHtml(res, 400, errorPage('Sign-in mismatch', 'This page belongs to another sign-in. Start again from the application.'));
    return;
  }
  const params = details.params as Record<string, string | undefined>;
  const redirectOrigin = params.redirect_uri ? safeOrigin(params.redirect_uri) : undefined;
  const targets = redirectOrigin ? [redirectOrigin] : [];
  const scenarios = scenariosFor(d.name);
  const picker = (status: number, error?: string) => sendHtml(res, status, pickerPage({
    mockLabel: d.label, action: `${new URL(d.provider.issuer).pathname}/interaction/${uid}`, clientId: params.client_id ?? '',
    redirectUri: params.redirect_uri, personas: d.personas, scenarios, error,
  }), targets);

  let choice: { persona?: Persona; scenario?: string } | undefined;
  if (req.method === 'POST') {
    const form = await readForm(req);
    if (!form) return picker(400, 'The form could not be read: send application/x-www-form-urlencoded.');
    if (form.get('cancel')) return finish(d, req, res, details, undefined, 'deny');
    const id = form.get('persona') ?? '';
    choice = { persona: d.personas.find((p) => p.id === id), scenario: form.get('scenario') ?? 'ok' };
    if (!choice.persona) return picker(400, `Unknown persona "${id}".`);
  } else if (req.method === 'GET') {
    const queued = d.takeQueued();
    if (queued) {
      choice = { persona: d.personas.find((p) => p.id === queued.persona), scenario: queued.scenario };
    } else if (params.login_hint) {
      const hint = parseHint(params.login_hint, d.personas);
      if (hint.persona) choice = hint;
      // A hint meant for the mock must not silently turn into a picker page a script cannot use.
      else if (hint.explicit) return picker(400, `login_hint "${params.login_hint}": no persona with that id or email.`);
    }
    if (!choice) return picker(200);
  } else {
    res.writeHead(405, { allow: 'GET, POST' }).end();
    return;
  }
  const scenario = choice.scenario ?? 'ok';
  if (!isScenario(scenario) || !scenarios.includes(scenario)) {
    return picker(400, `Scenario "${scenario}" is not one of this mock's: ${scenarios.join(', ')}.`);
  }
  return finish(d, req, res, details, choice.persona, scenario);
}

async function finish(d: InteractionDeps, req: IncomingMessage, res: ServerResponse, details: Awaited<ReturnType<Provider['interactionDetails']>>,
  persona: Persona | undefined, scenario: Scenario): Promise<void> {
  const opts = { mergeWithLastSubmission: false };
  if (scenario === 'deny' || !persona) {
    await d.provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'The user denied the request (mock scenario deny).',
    }, opts);
    return;
  }
  const params = details.params as Record<string, string | undefined>;
  const signIn = buildSignIn(d.name, persona, scenario, d.localEmail);
  // Consent is implied: the persona grants whatever the client asked for.
  const grant = new d.provider.Grant({ accountId: signIn.sub, clientId: params.client_id! });
  if (params.scope) grant.addOIDCScope(params.scope);
  const grantId = await grant.save();
  d.record(signIn, grantId);
  const amr = Array.isArray(signIn.claims.amr) ? (signIn.claims.amr as string[]) : undefined;
  await d.provider.interactionFinished(req, res, {
    login: { accountId: signIn.sub, remember: false, ...(amr ? { amr } : {}) },
    consent: { grantId },
    mock: { persona: persona.id, scenario },
  }, opts);
}

function safeOrigin(uri: string): string | undefined {
  try {
    const u = new URL(uri);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : undefined;
  } catch {
    return undefined;
  }
}
