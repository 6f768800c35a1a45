import type { SignInSources } from './identity/sign-in-sources.js';
import type { FastifyInstance } from 'fastify';
import type { BrandService } from './branding/service.js';
import type Provider from 'oidc-provider';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Settings } from './config/load.js';
import type { Database } from './storage/schema.js';
import type { RoleRepository, TenantRepository, UserRepository } from './identity/repository.js';
import type { IdentityService } from './identity/service.js';
import type { ActionTokenRepository } from './identity/tokens.js';
import type { ApiRepository, ClientRepository } from './oidc/repository.js';
import type { OidcPayloadStore } from './oidc/payload-store.js';
import type { EventBus } from './audit/events.js';
import type { AuditRepository } from './audit/repository.js';
import type { Mailer, SmsSender } from './notify/senders.js';
import type { OutboxRepository } from './notify/outbox.js';
import type { Metrics } from './http/metrics.js';
import type { FailureThrottle } from './http/throttle.js';
import type { AccountSessions } from './account/session.js';
import type { KeyEncryptionKey } from './oidc/kek.js';
import type { MfaFactors } from './mfa/factors.js';
import type { KeyService } from './oidc/keys.js';
import type { UserDataService } from './userdata/service.js';
import type { SignInMethods } from './interaction/methods.js';
import type { PasswordVerifiers } from './identity/password-method.js';
import type { ProviderRegistry } from './federation/providers.js';
import type { SharedCounters } from './http/shared-counters.js';
import type { RateLimiter } from './http/rate-limit.js';
import type { Leases } from './storage/leases.js';
import type { EventJournal } from './audit/journal.js';
import type { WebhookRepository } from './webhooks/repository.js';
import type { DeliveryWorker } from './webhooks/worker.js';

/**
 * The services a feature may depend on, built once by the composition root
 * (app.ts). Features take what they need from it; nothing here knows HTTP
 * routes, and no feature reaches into another's internals.
 */
export interface Platform {
  settings: Readonly<Settings>;
  log: Logger;
  metrics: Metrics;
  /** Failed-credential throttle per client IP (shared by every worker and instance). */
  throttle: FailureThrottle;
  /** Throttle and rate-limit hits shared by every worker and instance (Redis or the database; docs/scaling.md). */
  counters: SharedCounters;
  /**
   * A request-volume limiter per key (client IP…) shared by every worker and
   * instance; `name` keeps limiters' counts apart (one name per use).
   */
  rateLimiter(name: string, limit: number, windowMs?: number): RateLimiter;
  /** Named leases: jobs that run on one instance at a time (storage/leases.ts). */
  leases: Leases;
  db: Kysely<Database>;
  /** Known sign-in sources and their failure counts (the lockout per account and source). */
  signInSources: SignInSources;
  tenants: TenantRepository;
  roles: RoleRepository;
  users: UserRepository;
  clients: ClientRepository;
  apis: ApiRepository;
  payloads: OidcPayloadStore;
  identity: IdentityService;
  tokens: ActionTokenRepository;
  events: EventBus;
  audit: AuditRepository;
  mailer: Mailer;
  sms: SmsSender;
  outbox: OutboxRepository;
  accountSessions: AccountSessions;
  /** The current protocol engine (it is rebuilt when keys rotate). */
  provider(): Provider;
  /** Installs engine middleware or listeners on the current engine and on every rebuild. */
  onEngine(install: (provider: Provider) => void): void;
  /** Cookies get `Secure` (and `__Host-` where used) when the issuer is https. */
  secureCookies: boolean;
  /** Encrypts secrets at rest (signing keys, TOTP secrets) and derives purpose keys. */
  kek: KeyEncryptionKey;
  /** The registry of MFA factor kinds (TOTP, recovery codes, passkeys); see mfa/factors.ts. */
  mfa: MfaFactors;
  /** The registry of sign-in methods (password, passkeys, TOTP, upstream providers…); see interaction/methods.ts. */
  signIn: SignInMethods;
  /** The chain of password verifiers behind the password form (local accounts last; directories add theirs). */
  passwords: PasswordVerifiers;
  /** Signing keys (list, public JWKS for verifying Tessera's own tokens). */
  keys: KeyService;
  /** Rotates the signing keys (old ones stay published for the longest token lifetime) and reloads the engine. */
  rotateKeys(): Promise<void>;
  /** Custom attributes and external ids (docs/users.md). */
  userData: UserDataService;
  /** Tenant branding as pages show it (docs/branding.md). */
  brands: BrandService;
  /** Upstream identity providers (docs/federation.md): the file's and the admin API's, secrets decrypted on read. */
  identityProviders: ProviderRegistry;
  /** The durable event model: audit entries and the webhook outbox in one transaction (audit/journal.ts). */
  journal: EventJournal;
  /** Outbound webhooks: subscriptions, outbox and deliveries, and the (leased) delivery worker (docs/webhooks.md). */
  webhooks: { repo: WebhookRepository; worker: DeliveryWorker };
  /** The clock of scheduled work (webhook batches and retries); tests inject one. */
  now(): number;
}

/** A feature adds its routes (and event listeners) to the app. */
export type Feature = (app: FastifyInstance, platform: Platform) => void | Promise<void>;
