import type { FastifyInstance } from 'fastify';

/**
 * JSON bodies for the provisioning APIs: `application/json` and SCIM's
 * `application/scim+json`, where an empty body (a DELETE or a lifecycle POST
 * that still sends a Content-Type, as some SDKs and Entra ID do) means no
 * body rather than a syntax error.
 */
export function lenientJson(scope: FastifyInstance): void {
  const parse = (_request: unknown, body: string | Buffer, done: (err: Error | null, value?: unknown) => void) => {
    const text = body.toString();
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text) as unknown);
    } catch {
      done(Object.assign(new Error('The body is not valid JSON.'), { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON' }));
    }
  };
  scope.removeContentTypeParser('application/json');
  scope.addContentTypeParser(['application/json', 'application/scim+json'], { parseAs: 'string' }, parse);
}
