import { expect } from 'vitest';
import { UserAgent, formAction, hiddenField } from './agent.js';
import type { Credentials } from './flows.js';

export const CHROME_LINUX = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
export const FIREFOX_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0';

/** A browser signed in to the account pages (through the authorization server, as a person would). */
export async function signedInBrowser(issuer: string, creds: Credentials, headers: Record<string, string> = {}): Promise<{ agent: UserAgent; html: string }> {
  const agent = new UserAgent({ 'user-agent': CHROME_LINUX, ...headers });
  let { res, url } = await agent.follow(await agent.get(`${issuer}/account`), `${issuer}/account`);
  const action = new URL(formAction(await res.text(), '/login'), issuer);
  ({ res, url } = await agent.follow(await agent.post(action, { username: creds.username, password: creds.password }), action.href));
  expect(new URL(url).pathname).toBe('/account');
  expect(res.status).toBe(200);
  return { agent, html: await res.text() };
}

/** GETs an account page and returns its HTML and form token. */
export async function page(agent: UserAgent, url: string): Promise<{ status: number; html: string; csrf: string }> {
  const res = await agent.get(url);
  const html = await res.text();
  return { status: res.status, html, csrf: hiddenField(html, '_csrf') ?? '' };
}

/** Submits an account form with the page's token. */
export async function submit(agent: UserAgent, pageUrl: string, action: string, form: Record<string, string>): Promise<Response> {
  const { csrf } = await page(agent, pageUrl);
  return agent.post(action, { _csrf: csrf, ...form });
}

/** Decodes the entities `esc()` writes, so assertions can use plain text. */
export function text(html: string): string {
  return html.replace(/&#(\d+);/g, (_, c) => String.fromCharCode(Number(c)));
}
