import type { GatewaySettings, RouteConfig } from './config.js';

/** A route as the hot path uses it: everything derivable from the config computed once at boot. */
export interface CompiledRoute {
  readonly index: number;
  /** Metrics label and log field: bounded (one per declared route). */
  readonly label: string;
  readonly prefix: string;
  readonly methods: ReadonlySet<string> | undefined;
  readonly config: RouteConfig;
  readonly audience: string | undefined;
  readonly upstreamOrigin: string;
  /** The upstream URL's path without its trailing slash ('' for the root). */
  readonly upstreamBase: string;
  readonly acr: string | undefined;
  /** acr_levels index the token's acr must reach, or -1 when the route has no acr requirement. */
  readonly acrRank: number;
  readonly maxAge: number | undefined;
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
  readonly clients: ReadonlySet<string> | undefined;
  readonly corsOrigins: ReadonlySet<string> | undefined;
  readonly corsAnyOrigin: boolean;
}

export type RouteMatch =
  | { kind: 'route'; route: CompiledRoute }
  /** The path belongs to a route, but not for this method (405 with Allow). */
  | { kind: 'method'; allow: string[]; route: CompiledRoute }
  | { kind: 'none' };

export interface RouteTable {
  readonly routes: readonly CompiledRoute[];
  match(method: string, path: string): RouteMatch;
}

/** Compiles the declared routes; longest prefix first so that matching stops at the first hit. */
export function compileRoutes(settings: Pick<GatewaySettings, 'routes' | 'audience' | 'acr_levels'>): RouteTable {
  const routes: CompiledRoute[] = settings.routes.map((r, index) => {
    const up = new URL(r.upstream);
    return {
      index,
      label: r.methods ? `${r.methods.join(',')} ${r.prefix}` : r.prefix,
      prefix: r.prefix,
      methods: r.methods ? new Set(r.methods) : undefined,
      config: r,
      audience: r.public ? undefined : (r.audience ?? settings.audience),
      upstreamOrigin: up.origin,
      upstreamBase: up.pathname.replace(/\/+$/, ''),
      acr: r.acr,
      acrRank: r.acr ? settings.acr_levels.indexOf(r.acr) : -1,
      maxAge: r.max_age,
      scopes: r.scopes,
      roles: r.roles,
      clients: r.clients ? new Set(r.clients) : undefined,
      corsOrigins: r.cors ? new Set(r.cors.origins) : undefined,
      corsAnyOrigin: r.cors?.origins.includes('*') ?? false,
    };
  });
  // Longest prefix wins; among equal prefixes, method-specific routes before catch-alls.
  const ordered = [...routes].sort((a, b) => b.prefix.length - a.prefix.length || Number(!a.methods) - Number(!b.methods));
  // The answers for a hit, made once: matching runs on every request.
  const hits: readonly RouteMatch[] = routes.map((route) => Object.freeze({ kind: 'route' as const, route }));

  return {
    routes,
    match(method, path) {
      let pathOwner: CompiledRoute | undefined;
      for (const route of ordered) {
        if (!prefixMatches(route.prefix, path)) continue;
        // A longer prefix that matched the path but not the method shadows shorter prefixes:
        // `/admin` (GET only) must not fall through to a catch-all `/` for DELETE.
        if (pathOwner && pathOwner.prefix !== route.prefix) break;
        if (!route.methods || route.methods.has(method)) return hits[route.index]!;
        pathOwner = route;
      }
      if (!pathOwner) return NO_MATCH;
      const allow = ordered.filter((r) => r.prefix === pathOwner!.prefix).flatMap((r) => [...(r.methods ?? [])]);
      return { kind: 'method', allow: [...new Set(allow)], route: pathOwner };
    },
  };
}

const NO_MATCH: RouteMatch = Object.freeze({ kind: 'none' });

/** `/api` matches `/api`, `/api/…` and `/api?…`, never `/apis`. */
export function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === '/') return true;
  if (!path.startsWith(prefix)) return false;
  const next = path.charCodeAt(prefix.length);
  return Number.isNaN(next) || next === 47 /* / */;
}

/**
 * Refuses request targets an upstream could resolve differently from the
 * gateway's prefix match: dot segments (`/public/../admin`), their
 * percent-encoded forms, encoded slashes and backslashes. Without this a
 * request matched against a public prefix could reach a protected path.
 */
export function isSafePath(path: string): boolean {
  if (path.charCodeAt(0) !== 47 /* / */) return false;
  // Every unsafe form contains "%", "\\" or "/.": most paths have none of them and need no regular expression.
  if (path.indexOf('%') === -1 && path.indexOf('\\') === -1 && path.indexOf('/.') === -1) return true;
  return !UNSAFE.test(path);
}
const UNSAFE = /%2e|%2f|%5c|%00|\\|\/\.\.?(?:\/|$)/i;

/** The upstream path for a request path (query string kept verbatim). */
export function upstreamPath(route: CompiledRoute, pathAndQuery: string): string {
  const rest = route.config.strip_prefix && route.prefix !== '/' ? pathAndQuery.slice(route.prefix.length) : pathAndQuery;
  if (rest === '' || rest.charCodeAt(0) === 63 /* ? */) return `${route.upstreamBase}/${rest}`;
  return route.upstreamBase + rest;
}
