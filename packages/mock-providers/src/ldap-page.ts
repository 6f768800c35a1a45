import type { IncomingMessage, ServerResponse } from 'node:http';
import { readForm, sendHtml } from './interaction.js';
import { isLdapScenario, LDAP_SCENARIO_HELP, LDAP_SCENARIOS, type MockDirectory } from './ldap.js';
import { escapeHtml, page } from './pages.js';
import type { Persona } from './personas.js';

/**
 * GET/POST /ldap: the directory's connection details and, per persona, the scenario its entry
 * and binds play now (LDAP has no login_hint: the scenario is the directory's state).
 */
export async function handleLdapPage(dir: MockDirectory, personas: Persona[], req: IncomingMessage, res: ServerResponse): Promise<void> {
  let error: string | undefined;
  if (req.method === 'POST') {
    const form = await readForm(req);
    const persona = form?.get('persona') ?? '';
    const scenario = form?.get('scenario') ?? '';
    if (personas.some((p) => p.id === persona) && isLdapScenario(scenario)) {
      dir.setScenario(persona, scenario);
      res.writeHead(303, { location: '/ldap' }).end();
      return;
    }
    error = `Unknown persona "${persona}" or scenario "${scenario}".`;
  } else if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, POST' }).end();
    return;
  }
  const rows = personas.map((p) => {
    const current = dir.scenarioOf(p.id);
    const options = LDAP_SCENARIOS.map((s) => `<option value="${s}"${s === current ? ' selected' : ''}>${s}: ${escapeHtml(LDAP_SCENARIO_HELP[s])}</option>`).join('');
    return `<tr><td><code>uid=${escapeHtml(p.id)},${escapeHtml(dir.usersDn)}</code><br><span class="small">${escapeHtml(p.name)} · ${escapeHtml(p.email ?? '(no email)')}</span></td>`
      + `<td><form method="post" action="/ldap"><input type="hidden" name="persona" value="${escapeHtml(p.id)}">`
      + `<select name="scenario" aria-label="Scenario for ${escapeHtml(p.name)}">${options}</select> <button type="submit">Set</button></form></td></tr>`;
  }).join('');
  sendHtml(res, error ? 400 : 200, page('Mock LDAP directory', '<h1>Mock LDAP directory</h1>'
    + (error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : '')
    + `<p>URL <code>${escapeHtml(dir.url)}</code> (plain LDAP) · base <code>${escapeHtml(dir.baseDn)}</code> · service account <code>${escapeHtml(dir.bindDn)}</code> / <code>${escapeHtml(dir.bindPassword)}</code><br>`
    + `user filter <code>${escapeHtml(dir.userFilter)}</code> · people's password: their persona's (default <code>password</code>)</p>`
    + `<table><thead><tr><th>Entry</th><th>Scenario now</th></tr></thead><tbody>${rows}</tbody></table>`));
}
