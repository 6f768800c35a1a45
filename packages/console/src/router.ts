import { h } from 'preact';
import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';

/**
 * A small History-API router. Paths inside the app are written without the
 * base ('/clients/abc'); the browser shows them under it ('/admin/clients/abc').
 * The platform answers every /admin/<path> with index.html, so reloads and
 * deep links work.
 */

/** The base the console is served under, without its trailing slash: '/admin'. */
export const BASE = import.meta.env.BASE_URL.replace(/\/$/, '');

const CHANGE = 'tessera:navigate';

/** The app path of the current location: '/clients/abc' (never empty, always with a leading slash). */
export function currentPath(): string {
  const p = location.pathname;
  const rest = p === BASE || p.startsWith(`${BASE}/`) ? p.slice(BASE.length) : p;
  return rest === '' ? '/' : rest;
}

/** The current app path with its query, as `navigate` takes it back (e.g. returnTo after a sign-in). */
export function currentLocation(): string {
  return currentPath() + location.search;
}

/** Full URL path for an app path: '/clients' → '/admin/clients'. */
export function hrefFor(path: string): string {
  if (!path.startsWith('/')) path = `/${path}`;
  return BASE + (path === '/' ? '/' : path);
}

/** Goes to an app path ('/clients/abc', may carry a '?query'); `replace` rewrites the current history entry. */
export function navigate(path: string, opts?: { replace?: boolean }): void {
  const url = hrefFor(path);
  if (opts?.replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  window.dispatchEvent(new Event(CHANGE));
  if (!opts?.replace) window.scrollTo(0, 0);
}

/** The current route; re-renders on navigation and on back/forward. */
export function useRoute(): { path: string; query: URLSearchParams } {
  const [, setTick] = useState(0);
  useEffect(() => {
    const update = () => setTick((n) => n + 1);
    window.addEventListener('popstate', update);
    window.addEventListener(CHANGE, update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener(CHANGE, update);
    };
  }, []);
  return { path: currentPath(), query: new URLSearchParams(location.search) };
}

/** An in-app link: a real <a href> (open in new tab works), navigated without a reload on a plain click. */
export function Link(props: { href: string; class?: string; children: ComponentChildren }): JSX.Element {
  const onClick = (e: MouseEvent) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(props.href);
  };
  const current = currentPath() === props.href.split('?')[0];
  return h('a', { href: hrefFor(props.href), class: props.class, onClick, 'aria-current': current ? 'page' : undefined }, props.children);
}

/**
 * Matches a path against a pattern with ':name' segments; returns the
 * decoded parameters or null. '/apis/:identifier' matches '/apis/https%3A%2F%2Fx'
 * with identifier = 'https://x'.
 */
export function matchRoute(pattern: string, path: string): Record<string, string> | null {
  const ps = pattern.split('/').filter(Boolean);
  const xs = path.split('/').filter(Boolean);
  if (ps.length !== xs.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < ps.length; i++) {
    const p = ps[i]!;
    const x = xs[i]!;
    if (p.startsWith(':')) {
      try {
        params[p.slice(1)] = decodeURIComponent(x);
      } catch {
        return null;
      }
    } else if (p !== x) {
      return null;
    }
  }
  return params;
}
