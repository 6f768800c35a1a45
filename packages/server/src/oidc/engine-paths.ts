/**
 * Path guards for the engine middlewares (`provider.use`) that act on one
 * route: a request for any other route is handed on with `return next()`
 * from a plain function, so it crosses no async frame of theirs (issue 20:
 * each `async (ctx, next) => { await next(); … }` costs every request a
 * promise, an await and their async hooks).
 *
 * The engine's router (oidc-provider `helpers/router.js`) matches paths
 * case-insensitively and with one trailing slash. These guards compare the
 * lower-cased path, so they match at least what the router routes there
 * (and perhaps more, which only means the middleware runs and finds nothing
 * to do), never less. Routes and prefixes are given in lower case (`ROUTES`).
 */

/** The path is `route` as the engine's router would match it. */
export function onEnginePath(path: string, route: string): boolean {
  if (path.length !== route.length && path.length !== route.length + 1) return false;
  const p = path.toLowerCase();
  return p === route || p === `${route}/`;
}

/** The path starts with `prefix` (compared in lower case). */
export function underEnginePath(path: string, prefix: string): boolean {
  return path.length >= prefix.length && path.toLowerCase().startsWith(prefix);
}
