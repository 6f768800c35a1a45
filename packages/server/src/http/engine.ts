import type { FastifyInstance } from 'fastify';
import type { RequestListener } from 'node:http';
import { PROTOCOL_PREFIX } from '../oidc/provider.js';
import type { FailureThrottle } from './throttle.js';

/**
 * Mounts the protocol engine. Its routes get the raw request stream (no
 * Fastify body parsing), so the engine applies its own parsing and limits
 * and answers in RFC 6749 form. The engine is looked up per request because
 * it is rebuilt when signing keys rotate.
 */
export async function mountEngine(app: FastifyInstance, engine: () => RequestListener, throttle: FailureThrottle): Promise<void> {
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null));
    const handle = async (request: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) => {
      if (request.method === 'POST' && throttle.isBlocked(request.ip) && isCredentialEndpoint(request.url)) {
        return reply.code(429).header('retry-after', '60').header('cache-control', 'no-store')
          .send({ error: 'invalid_request', error_description: 'too many failed authentication attempts; retry later' });
      }
      reply.hijack();
      engine()(request.raw, reply.raw);
    };
    scope.all(`${PROTOCOL_PREFIX}/*`, handle);
    scope.get('/.well-known/openid-configuration', handle);
  });
}

function isCredentialEndpoint(url: string): boolean {
  return url.startsWith(`${PROTOCOL_PREFIX}/token`);
}
