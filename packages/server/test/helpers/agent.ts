/**
 * A minimal browser for protocol tests: a cookie jar and manual redirects, so
 * each hop of a flow can be asserted. (Pages themselves are tested in Chromium.)
 */
export class UserAgent {
  private readonly jar = new Map<string, string>();

  /** `transport`: how requests are sent (the platform's fetch by default; a test may need other wire headers). */
  constructor(readonly headers: Record<string, string> = {}, private readonly transport: typeof fetch = fetch) {}

  async get(url: string | URL): Promise<Response> {
    return this.request(url, { method: 'GET' });
  }

  async post(url: string | URL, form: Record<string, string>): Promise<Response> {
    return this.request(url, {
      method: 'POST',
      body: new URLSearchParams(form).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
  }

  async request(url: string | URL, init: RequestInit): Promise<Response> {
    const target = new URL(url);
    const cookie = [...this.jar.entries()].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await this.transport(target, {
      ...init,
      redirect: 'manual',
      headers: { ...this.headers, ...(init.headers as Record<string, string>), ...(cookie ? { cookie } : {}) },
    });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (/max-age=0|expires=thu, 01 jan 1970/i.test(line) || value === '') this.jar.delete(name);
      else this.jar.set(name, value);
    }
    return res;
  }

  /** Follows redirects while they stay on `origin`; returns the first response that leaves it or is not a redirect. */
  async follow(res: Response, base: string, origin = new URL(base).origin): Promise<{ res: Response; url: string }> {
    let current = res;
    let url = base;
    for (let i = 0; i < 10; i++) {
      const location = current.headers.get('location');
      if (current.status < 300 || current.status >= 400 || !location) return { res: current, url };
      const next = new URL(location, url);
      if (next.origin !== origin) return { res: current, url: next.href };
      url = next.href;
      current = await this.get(url);
    }
    throw new Error('too many redirects');
  }

  /** The values of the cookies this browser holds (e.g. to check none is stored anywhere in the clear). */
  cookieValues(): string[] {
    return [...this.jar.values()];
  }

  clearCookies(): void {
    this.jar.clear();
  }
}

/** Pulls the value of a form field or a form's action out of a page. */
export function formAction(html: string, contains: string): string {
  const m = [...html.matchAll(/<form[^>]*action="([^"]+)"/g)].map((x) => x[1]!.replace(/&#(\d+);/g, (_, c) => String.fromCharCode(Number(c))));
  const found = m.find((a) => a.includes(contains));
  if (!found) throw new Error(`no form with action containing ${contains}`);
  return found;
}

export function hiddenField(html: string, name: string): string | undefined {
  const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  return m?.[1];
}
