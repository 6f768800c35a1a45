import type { FastifyInstance } from 'fastify';
import type { AccountSessions } from './session.js';

export interface AccountDeps {
  sessions: AccountSessions;
}

/** Self-service account pages (server-rendered; each requires a signed-in account). */
export function registerAccountRoutes(app: FastifyInstance, deps: AccountDeps): void {
  deps.sessions.register(app);
  // The pages themselves (/account, /account/email, …) are registered by account/feature.ts.
}
