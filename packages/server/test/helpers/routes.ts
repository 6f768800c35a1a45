import type { FastifyInstance } from 'fastify';

/**
 * Every route Fastify registered, as method and path (`:param` kept), read from
 * its route tree (`printRoutes`). HEAD is left out: Fastify adds it to every GET.
 * Used by the OpenAPI completeness test and the route fuzz test.
 */
export function registeredRoutes(app: FastifyInstance): Array<{ method: string; path: string }> {
  const out: Array<{ method: string; path: string }> = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([│ ]*)[├└]── (.*?)(?: \(([^)]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    const path = (depth === 0 ? '' : stack[depth - 1]!) + m[2]!;
    stack[depth] = path;
    stack.length = depth + 1;
    if (!m[3]) continue;
    for (const method of m[3].split(',').map((x) => x.trim()).filter((x) => x !== 'HEAD')) out.push({ method, path });
  }
  return out;
}
