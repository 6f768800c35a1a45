/**
 * @tessera/backend: domain authorization for services behind the Tessera
 * gateway (docs/backend.md). Framework-agnostic; the adapters for node:http
 * (`@tessera/backend/node`), Express (`/express`) and Fastify (`/fastify`)
 * only move the caller and the answers between the framework and this core.
 */
export { readCaller, callerJson } from './caller.js';
export type { Caller, ContextOptions, HeaderBag } from './caller.js';
export { Denied, answerFor, DEFAULT_REALM } from './denied.js';
export type { Answer, DenialCode } from './denied.js';
export {
  ACR_MFA, ACR_PASSWORD, TESSERA_ACR_LEVELS, hasAnyRole, hasScope, onlyOwnTenant, ownTenant, requireAnyRole,
  requireAuthentication, requireOwnTenant, requireScopes, requireUser,
} from './checks.js';
export type { AuthenticationRequirement } from './checks.js';
export { createAuditor } from './audit.js';
export type { AuditEntry, AuditSink, Auditor } from './audit.js';
export type { BackendOptions } from './options.js';
