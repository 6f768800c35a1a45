import type { RequestListener } from 'node:http';
import { Gauge } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import type { Settings } from './config/load.js';
import { applyDeclarativeConfig } from './config/apply.js';
import type { ApplySummary } from './config/apply.js';
import { openStore } from './storage/database.js';
import type { Store } from './storage/database.js';
import { DatabaseUnavailableError } from './storage/availability.js';
import { createRoleRepository, createTenantRepository, createUserRepository, withTenantCache } from './identity/repository.js';
import { IdentityService } from './identity/service.js';
import { LOOKUP_CACHE_TTL_MS, createApiRepository, createClientRepository, createSigningKeyRepository, withApiCache, withClientCache } from './oidc/repository.js';
import { createOidcPayloadStore, createTieredPayloadStore } from './oidc/payload-store.js';
import { REDIS_MODELS, createRedisPayloadStore } from './oidc/redis-payload-store.js';
import { loadKek } from './oidc/kek.js';
import { KeyService } from './oidc/keys.js';
import { buildProvider, signingKeyOverlapSeconds } from './oidc/provider.js';
import { createHttpServer } from './http/server.js';
import { SiteCheck } from './http/origin.js';
import { mountEngine, passUnmatched, throttledCredentials } from './http/engine.js';
import { Metrics } from './http/metrics.js';
import { FailureThrottle } from './http/throttle.js';
import { DeviceCookies } from './http/device-cookie.js';
import { SignInSources } from './identity/sign-in-sources.js';
import { redisLockoutCounters, sqlLockoutCounters } from './identity/lockout-counters.js';
import { createMfaRepository } from './mfa/repository.js';
import { RateLimiter } from './http/rate-limit.js';
import { SharedCounters, sqlCounterBackend } from './http/shared-counters.js';
import { Leases, runExclusively } from './storage/leases.js';
import { createChangeBus } from './storage/changes.js';
import type { ChangeTopic } from './storage/changes.js';
import { openRedis, redisCounterBackend } from './storage/redis.js';
import { enforceClientIpAllowlists } from './oidc/ip-allowlist.js';
import type { IpDenial } from './oidc/ip-allowlist.js';
import { mfaDueForPasswordGrant } from './oidc/password-grant.js';
import { mfaStateClaims } from './oidc/mfa-claims.js';
import { engineScopeMetadata, warnAboutClientGrants } from './oidc/client-grants.js';
import { pageCsp } from './http/security.js';
import { registerInteractionRoutes } from './interaction/routes.js';
import { createLoginLinks } from './interaction/links.js';
import { FEATURES } from './features.js';
import type { Platform } from './platform.js';
import { EventBus } from './audit/events.js';
import { createAuditRepository } from './audit/repository.js';
import { EventJournal } from './audit/journal.js';
import { createWebhookRepository } from './webhooks/repository.js';
import { DeliveryWorker } from './webhooks/worker.js';
import { createOutboxRepository } from './notify/outbox.js';
import { createOutboxMailer, createOutboxSms, createSmtpMailer } from './notify/senders.js';
import { createHttpSms } from './notify/sms-http.js';
import { createActionTokenRepository } from './identity/tokens.js';
import { AccountSessions } from './account/session.js';
import { createSessionMetaRepository, recordSessionMeta } from './account/session-meta.js';
import { registerOpsRoutes } from './http/ops.js';
import { DEVICE_CODE_FAILURES_PER_MINUTE } from './oidc/device-flow.js';
import { deviceConfirmPage, deviceDonePage, deviceInputPage, engineErrorPage, errorPage, loggedOutPage, logoutConfirmPage, signingOutPage } from './interaction/views.js';
import { bootstrap } from './bootstrap.js';
import { createInstanceRepository } from './instance/repository.js';
import { logEngineErrors } from './oidc/error-log.js';
import { BrandService } from './branding/service.js';
import type { Brand } from './branding/service.js';
import { createBrandingRepository } from './branding/repository.js';
import { MfaFactors } from './mfa/factors.js';
import { SignInMethods } from './interaction/methods.js';
import { localPasswordVerifier, passwordMethod, PasswordVerifiers } from './identity/password-method.js';
import { SignInPipeline } from './interaction/flow.js';
import { createSignInStateRepository } from './interaction/state.js';
import { createSignInPage } from './interaction/sign-in-page.js';
import { registerSecondFactorRoutes } from './interaction/second-factor.js';
import { brandedContext, pageContext } from './web/layout.js';
import { negotiateLocale } from './i18n/index.js';
import type { EngineLanguage } from './oidc/provider.js';
import type { BootstrapResult } from './bootstrap.js';
import { UserDataService } from './userdata/service.js';
import { claimCatalog } from './oidc/attribute-claims.js';
import { DEFAULT_POLICY } from './identity/policy.js';
import { ProviderRegistry } from './federation/providers.js';
import { InboundSources } from './inbound/sources.js';
import { createRegistrationTokenStore } from './oidc/dynamic-registration/tokens.js';

export interface AppDeps {
  /** An already-open store (tests, CLI); otherwise opened from settings and closed with the app. */
  store?: Store;
  logStream?: NodeJS.WritableStream;
  /**
   * A CLI command, not a server: nothing that follows the issuer is
   * registered (bootstrap.ts), and start-up notices meant for operators of a
   * server (the SMTP outbox) stay quiet. Servers leave it unset.
   */
  cli?: boolean;
  /**
   * A worker of `serve --workers N` (cluster.ts): the primary has applied the
   * configuration file already, so the worker does not apply it again.
   */
  worker?: boolean;
  /** The clock of scheduled work (webhook batches and retries): tests move it forward instead of waiting. */
  now?: () => number;
}

export interface TesseraApp {
  http: FastifyInstance;
  log: Logger;
  store: Store;
  keys: KeyService;
  identity: IdentityService;
  /** The shared services features are built from (the CLI and tests use them too: mailer, outbox, tokens…). */
  platform: Platform;
  provider(): Provider;
  bootstrapped: BootstrapResult;
  configApplied: ApplySummary;
  /** Rebuilds the engine from the stored key set (after a rotation). */
  reloadKeys(): Promise<void>;
  /** Rotates the signing keys, keeping old ones published for the longest token lifetime, and reloads. */
  rotateKeys(): Promise<void>;
  listen(): Promise<string>;
  close(): Promise<void>;
}

const SWEEP_INTERVAL_MS = 5 * 60_000;
const KEY_CHECK_INTERVAL_MS = 30_000;
const KEY_RETIREMENT_INTERVAL_MS = 60_000;
/** Generous: the first start on an empty database generates RSA keys and runs the file. */
const STARTUP_LEASE_MS = 120_000;

/**
 * The composition root: settings → store → services → engine → HTTP.
 * Throws (ConfigError, migration or key errors) before anything listens, so
 * the server never starts half-configured.
 */
export async function createApp(settings: Readonly<Settings>, deps: AppDeps = {}): Promise<TesseraApp> {
  const metrics = new Metrics();
  const http = createHttpServer({
    logLevel: settings.logLevel,
    trustProxy: settings.trustProxy,
    sites: new SiteCheck(settings.issuer, settings.formOrigins),
    metrics,
    logStream: deps.logStream,
    // The stable code is shown, as on the engine's error pages, so a user (or a test) can tell e.g. session_expired apart.
    renderHtmlError: (request, status, code, message) => {
      const ctx = pageContext(request);
      // Codes with a catalogue entry are shown in the page's language; others keep their specific English message.
      const key = `error.${code}`;
      const localized = ctx.t(key);
      return errorPage(ctx, status, localized === key ? message : localized, { error: code });
    },
  });
  const log = http.log as unknown as Logger;
  // Shutting down (close below): /readyz turns 503 first, responses ask keep-alive clients to reconnect elsewhere.
  let draining = false;
  http.addHook('onRequest', async (_request, reply) => {
    // On the raw response: the engine's routes write it themselves.
    if (draining) reply.raw.setHeader('connection', 'close');
  });

  const store = deps.store ?? openStore(settings.databaseUrl, { timeoutMs: settings.dbTimeoutMs });
  // A dropped connection is logged and replaced, never thrown (storage/database.ts).
  store.onConnectionError((err) => log.warn({ err: { message: err.message, code: (err as { code?: string }).code } }, 'database connection error'));
  try {
    await store.migrate();
    const db = store.db;
    // Tenant policies are read several times per sign-in: the same short read cache, dropped on change.
    const tenants = withTenantCache(createTenantRepository(db), LOOKUP_CACHE_TTL_MS);
    const roles = createRoleRepository(db);
    const users = createUserRepository(db);
    // Clients and APIs are read on every token request: served from a short read cache.
    const clients = withClientCache(createClientRepository(db));
    const apis = withApiCache(createApiRepository(db));
    const kek = loadKek({ secret: settings.secret, secretFile: settings.secretFile, warn: (m) => log.warn(m) });
    // Token ids are stored as keyed digests (payload-store.ts); rows from before that are converted once.
    const sqlPayloads = createOidcPayloadStore(db, kek.derive('oidc payload ids'));
    await sqlPayloads.upgradeLegacyRows();
    const sessionMeta = createSessionMetaRepository(db);
    // Created before the services that emit (identity); the audit log subscribes below.
    const events = new EventBus();
    // Redis, when configured, shares counts and change notifications; the database otherwise (docs/scaling.md).
    const redis = settings.redisUrl ? openRedis(settings.redisUrl, log) : undefined;
    // Failed sign-ins are counted per account and source (identity/sign-in-sources.ts; docs/security.md#lockout-and-throttling),
    // in Redis unless TESSERA_LOCKOUT_STATE=database (identity/lockout-counters.ts).
    const lockoutCounters = redis && settings.lockoutState === 'redis'
      ? redisLockoutCounters(redis, settings.redisPrefix, users, db)
      : sqlLockoutCounters(db, users, createMfaRepository(db));
    const signInSources = new SignInSources(db, kek.derive('sign-in sources'), lockoutCounters);
    const identity = new IdentityService({ users, tenants, roles, events, sources: signInSources, onEventError: (err) => log.error({ err }, 'event listener failed') });
    const keys = new KeyService(createSigningKeyRepository(db), kek);
    // Several workers or instances starting together on an empty database: one generates the keys, bootstraps and applies the file.
    const leases = new Leases(db);
    const startup = <T>(fn: () => Promise<T>) => leases.withLease('startup', STARTUP_LEASE_MS, fn, STARTUP_LEASE_MS);
    await startup(async () => {
      if (await keys.ensureKeys()) log.info('generated signing keys (RS256, ES256)');
      await keys.retireDue();
    });
    // The engine's short-lived state in Redis too, unless TESSERA_ENGINE_STATE=database (oidc/redis-payload-store.ts).
    const payloads = redis && settings.engineState === 'redis'
      ? createTieredPayloadStore(sqlPayloads, createRedisPayloadStore(redis, settings.redisPrefix, kek.derive('oidc payload ids')), REDIS_MODELS)
      : sqlPayloads;
    // Throttles and rate limits count across workers and instances.
    const counters = new SharedCounters(redis ? redisCounterBackend(redis, settings.redisPrefix) : sqlCounterBackend(db), {
      onError: (err) => log.warn({ err: { message: (err as Error).message } }, 'shared counters unavailable: throttles and rate limits count per process'),
      onRecover: () => log.info('shared counters available again'),
    });
    new Gauge({
      name: 'tessera_shared_counters_degraded', registers: [metrics.registry],
      help: '1 while the shared throttle counts (Redis or the database) fail and each process counts its own',
      collect() {
        this.set(counters.degraded ? 1 : 0);
      },
    });
    const throttle = new FailureThrottle(settings.authFailuresPerMinute, Date.now, counters);
    // Wrong device-flow user codes per client IP and minute, across instances (oidc/device-flow.ts; RFC 8628 §5.1).
    const deviceCodeThrottle = new FailureThrottle(DEVICE_CODE_FAILURES_PER_MINUTE, Date.now, counters);
    const cookieKey = kek.derive('cookie signing');
    new DeviceCookies(cookieKey, settings.issuer.startsWith('https:')).install(http);

    const userData = new UserDataService({ db, users });
    // Tenant branding (docs/branding.md): pages, engine pages and authenticator apps read it.
    const brands = new BrandService({ branding: createBrandingRepository(db), tenants });
    // The engine is built from the key set and from the scopes and claim names clients release attributes
    // under (docs/users.md#claims): a change of either rebuilds it (reloadKeys below).
    const engineInputs = async () => {
      const catalog = claimCatalog(await clients.list());
      return { catalog, fingerprint: `${await keys.fingerprint()}|${catalog.fingerprint}` };
    };
    // Features' engine middleware and listeners (Platform.onEngine), installed again on every rebuild.
    const engineInstalls: ((provider: Provider) => void)[] = [];
    const buildEngine = async (): Promise<{ provider: Provider; callback: RequestListener; fingerprint: string }> => {
      const { catalog, fingerprint } = await engineInputs();
      const provider = buildProvider({
        issuer: settings.issuer,
        sessionMeta,
        jwks: await keys.engineJwks(),
        cookieKeys: [cookieKey],
        trustProxy: settings.trustProxy,
        store: payloads,
        clients,
        apis,
        users,
        pages: {
          error: (lang, status, out) => engineErrorPage(langContext(lang, brands.defaultBrand()), status, out),
          logoutConfirm: (lang, form, client) => logoutConfirmPage(langContext(lang, brands.defaultBrand()), form, client),
          signingOut: (lang, form, script) => signingOutPage(langContext(lang, brands.defaultBrand()), form, script),
          loggedOut: (lang, client) => loggedOutPage(langContext(lang, brands.defaultBrand()), client),
          deviceInput: (lang, v) => deviceInputPage(langContext(lang, brands.defaultBrand()), v),
          deviceConfirm: (lang, v) => deviceConfirmPage(langContext(lang, brands.defaultBrand()), v),
          deviceDone: (lang, client) => deviceDonePage(langContext(lang, brands.defaultBrand()), client),
        },
        outboundPrivateHosts: settings.outboundPrivateHosts,
        // RFC 7591/7592 (docs/b2b.md#dynamic-client-registration): every registration in the audit log.
        registration: {
          settings: settings.clientRegistration,
          tokens: createRegistrationTokenStore(db),
          onRegistered: (r) => events.emit({
            type: 'client.registered', at: Date.now(), tenantId: r.tenantId, subjectId: r.clientId, context: { ip: r.ip },
            data: { target: 'client', registration_token: r.tokenId, grant_types: r.grantTypes, redirect_uris: r.redirectUris, scope: r.scope },
          }),
        },
        deviceCodeThrottle,
        // Every token exchange in the audit log (docs/protocol.md#token-exchange).
        tokenExchange: {
          onExchange: (e) => events.emit({
            type: 'token.exchanged', at: Date.now(), tenantId: e.tenantId, subjectId: e.subject, context: { ip: e.ip },
            data: { client: e.client, subject_client: e.subjectClient, audience: e.audience, scope: e.scope },
          }),
        },
        mfaState: mfaStateClaims({ clients, tenants, factors: () => platform.mfa }),
        attributeClaims: { catalog, dataOf: (userId) => userData.dataOf(userId) },
        // The legacy password grant, for clients that list it: the sign-in page's lockout, throttle and MFA rules.
        passwordGrant: { identity, throttle, metrics, mfaRequired: mfaDueForPasswordGrant({ clients, tenants, factors: () => platform.mfa }) },
      });
      wireEngineEvents(provider, log, metrics, throttle);
      logEngineErrors(provider, log);
      enforceClientIpAllowlists(provider, (denial) => auditIpDenial(events, log, denial));
      // Device details for the account's sessions page (the engine stores none).
      recordSessionMeta(provider, sessionMeta, log, clients);
      for (const install of engineInstalls) install(provider);
      provider.use(passUnmatched);
      provider.use((ctx, next) => throttledCredentials(ctx as unknown as Parameters<typeof throttledCredentials>[0], next));
      return { provider, callback: provider.callback() as RequestListener, fingerprint };
    };
    let engine = await buildEngine();

    const identityProviders = new ProviderRegistry({ db, kek });
    const { bootstrapped, configApplied } = await startup(async () => {
      const bootstrapped = await bootstrap({ tenants, roles, users, clients, identity, apis, instance: createInstanceRepository(db) },
        settings.issuer, settings.bootstrapAdminPassword, { serving: !deps.cli });
      // A worker of `serve --workers`: the primary has applied the file.
      if (deps.worker) return { bootstrapped, configApplied: { created: 0, updated: 0, unchanged: 0 } };
      const configApplied = await applyDeclarativeConfig(settings.declarative, {
        db,
        declaredPasswordKey: kek.derive('declared passwords'),
        validateClient: (md) => engine.provider.Client.validate(engineScopeMetadata(md, 'validate') as never),
      }, settings.configFile);
      // Identity providers from the file, after the tenants they serve; their secrets are encrypted with the KEK.
      const providersApplied = await identityProviders.applyDeclared(settings.declarative.identity_providers);
      configApplied.created += providersApplied.created;
      configApplied.updated += providersApplied.updated;
      configApplied.unchanged += providersApplied.unchanged;
      // Inbound contact sources from the file (docs/webhooks.md#inbound-contact-sync); secrets sealed with the KEK.
      const sourcesApplied = await new InboundSources({ db, kek }).applyDeclared(settings.declarative.inbound_sources);
      configApplied.created += sourcesApplied.created;
      configApplied.updated += sourcesApplied.updated;
      configApplied.unchanged += sourcesApplied.unchanged;
      return { bootstrapped, configApplied };
    });
    // The file's tenants were written past the tenant cache (in the apply's transaction).
    tenants.invalidateAll();
    // Client grants changed what a client without API scopes in `scope` obtains: say which clients to update.
    await warnAboutClientGrants(clients, apis, log);

    // Clients declared in the file may release attribute claims the engine built before the file did not know.
    if ((await engineInputs()).fingerprint !== engine.fingerprint) engine = await buildEngine();

    await mountEngine(http, () => engine.callback, throttle, { draining: () => draining });
    const audit = createAuditRepository(db);
    // One durable event model: the audit entry and the webhook outbox rows of an event in one transaction.
    const journal = new EventJournal(db, audit);
    events.on(async (event) => {
      await journal.record(event);
    });
    const now = deps.now ?? Date.now;
    const webhookRepo = createWebhookRepository(db);
    journal.use((trx, event, id) => webhookRepo.enqueue(trx, event, id).then((n) => n > 0));
    const webhookWorker = new DeliveryWorker({
      repo: webhookRepo, kek, users, userData, log, now,
      lease: { acquire: () => leases.acquire('webhook-delivery', settings.webhooks.leaseMs), release: () => leases.release('webhook-delivery') },
      settings: { ...settings.webhooks, privateHosts: settings.outboundPrivateHosts },
    });
    journal.onCommitted(() => webhookWorker.nudge());
    const outbox = createOutboxRepository(db);
    const mailer = settings.smtpUrl ? createSmtpMailer(settings.smtpUrl, settings.mailFrom) : createOutboxMailer(outbox, log);
    if (mailer.kind === 'outbox' && !deps.cli) log.warn('SMTP_URL is not set: mail goes to the development outbox (/dev/outbox, loopback only)');
    const platform: Platform = {
      settings, log, metrics, throttle, counters, leases, db, signInSources,
      rateLimiter: (name, limit, windowMs = 60_000) => new RateLimiter(limit, windowMs, { shared: { counters, name } }), tenants, roles, users, clients, apis, payloads, identity, events, audit, outbox, mailer,
      tokens: createActionTokenRepository(db),
      sms: settings.sms.provider === 'outbox' ? createOutboxSms(outbox, log) : createHttpSms(settings.sms, log),
      accountSessions: new AccountSessions({ issuer: settings.issuer, cookieKey, payloads, users, reauthMaxAge: settings.accountReauthMaxAge }),
      provider: () => engine.provider,
      onEngine: (install) => {
        engineInstalls.push(install);
        install(engine.provider);
        // Koa composes its middleware when the callback is made: make it again so the new middleware runs.
        engine = { ...engine, callback: engine.provider.callback() as RequestListener };
      },
      secureCookies: settings.issuer.startsWith('https:'),
      kek,
      mfa: new MfaFactors(),
      signIn: new SignInMethods(),
      passwords: new PasswordVerifiers(localPasswordVerifier(identity)),
      keys,
      // Defined below, once the engine can be reloaded; only called by requests, after start-up.
      rotateKeys: () => rotateKeys(),
      userData,
      brands,
      identityProviders,
      journal,
      webhooks: { repo: webhookRepo, worker: webhookWorker },
      now,
    };

    // "Forgot your password?" always; "Create an account" when the client's tenant takes registrations.
    const signInPage = createSignInPage({ clients, methods: platform.signIn, loginLinks: createLoginLinks(platform) });
    platform.signIn.register(passwordMethod({
      verifiers: platform.passwords, metrics,
      // A tenant with local_login: false signs in through its identity providers only (docs/federation.md).
      offered: async (tenantId) => ((await tenants.findById(tenantId))?.policy ?? DEFAULT_POLICY).local_login,
    }));
    const flow = new SignInPipeline({
      provider: () => engine.provider, users, clients, tenants, events, log, throttle, sources: signInSources, methods: platform.signIn,
      states: createSignInStateRepository(db),
      hasSecondFactor: (userId) => platform.mfa.hasSecondFactor(userId),
      choicePage: signInPage,
      secondFactor: { clients, methods: platform.signIn },
    });
    registerInteractionRoutes(http, { provider: () => engine.provider, clients, flow, users });
    registerSecondFactorRoutes(http, flow, flow.pages);
    for (const feature of FEATURES) await feature(http, platform);
    // Sign-in methods own their routes (a form's POST, an upstream's start and callback).
    for (const method of platform.signIn.list()) method.routes?.(http, flow);
    registerOpsRoutes(http, {
      store, metrics, issuer: settings.issuer, csp: pageCsp(), draining: () => draining,
      // The home page offers "Create an account" while the default tenant takes open registrations.
      registerUrl: async () => ((await tenants.findById('default'))?.policy.registration === 'open' ? '/register' : undefined),
    });

    // Each process rebuilds its own engine when the key set or the claim catalogue changed (a read).
    const refreshEngine = async () => {
      if ((await engineInputs()).fingerprint !== engine.fingerprint) {
        engine = await buildEngine();
        log.info('signing keys or attribute claims changed; protocol engine reloaded');
      }
    };
    const reloadKeys = async () => {
      await keys.retireDue();
      await refreshEngine();
    };
    // Changes made through any process reach every process within a second (storage/changes.ts, docs/scaling.md).
    const changes = createChangeBus({ db, engine: store.engine, databaseUrl: settings.databaseUrl, redis: redis ? { client: redis, prefix: settings.redisPrefix } : undefined, log });
    changes.subscribe((topic) => {
      if (topic === 'clients' || topic === '*') clients.invalidateAll();
      if (topic === 'apis' || topic === '*') apis.invalidateAll();
      if (topic === 'tenants' || topic === '*') {
        tenants.invalidateAll();
        brands.invalidate();
      }
      // Keys, and the claim catalogue clients release attributes under, are built into the engine.
      if (topic === 'keys' || topic === 'clients' || topic === '*') refreshEngine().catch((err) => log.error({ err }, 'engine reload failed'));
    });
    if (!deps.cli) await changes.start();
    events.on((event) => {
      const topic = changeTopic(event.type);
      // This process's own tenant cache goes at once (a deletion writes past it); the bus tells the others.
      if (topic === 'tenants') tenants.invalidateAll();
      if (topic) void changes.publish(topic);
    });
    const rotateKeys = async () => {
      await keys.rotate(await signingKeyOverlapSeconds(apis, clients));
      await reloadKeys();
      await changes.publish('keys');
    };
    const timers = [
      setInterval(() => refreshEngine().catch((err) => log.error({ err }, 'key reload failed')), KEY_CHECK_INTERVAL_MS),
    ];
    timers.forEach((t) => t.unref());
    // Jobs that write run on one worker or instance at a time, under a lease (storage/leases.ts).
    const sweep = async () => {
      await payloads.sweep();
      await counters.backend?.sweep(Date.now());
    };
    const jobs = deps.cli ? [] : [
      runExclusively(leases, 'sweeper', SWEEP_INTERVAL_MS, sweep, log),
      runExclusively(leases, 'key-retirement', KEY_RETIREMENT_INTERVAL_MS, () => reloadKeys(), log),
    ];
    if (deps.cli) await sweep();
    else await jobs[0]!.tick();
    counters.start();
    // Webhook deliveries: every server instance runs the worker; a lease lets one of them deliver at a time.
    if (!deps.cli) webhookWorker.start();

    let closed = false;
    return {
      http, log, store, keys, identity, platform, bootstrapped, configApplied, reloadKeys,
      rotateKeys,
      provider: () => engine.provider,
      async listen() {
        return http.listen({ port: settings.port, host: settings.host });
      },
      async close() {
        if (closed) return;
        closed = true;
        // Rolling restarts lose nothing: /readyz says 503 for TESSERA_SHUTDOWN_DELAY_SECONDS while requests are still
        // served (the balancer's health check takes the instance out), then the listener closes and in-flight requests finish.
        draining = true;
        if (settings.shutdownDelaySeconds > 0) await new Promise((r) => setTimeout(r, settings.shutdownDelaySeconds * 1000));
        timers.forEach(clearInterval);
        await Promise.all(jobs.map((j) => j.stop()));
        await webhookWorker.stop();
        await http.close();
        await counters.stop().catch(() => {});
        // A CLI command may have changed anything (config apply, keys rotate, clients create): tell the servers.
        if (deps.cli) for (const topic of ['clients', 'apis', 'tenants', 'identity-providers', 'keys'] as const) await changes.publish(topic);
        await changes.stop();
        redis?.disconnect();
        await mailer.close();
        if (!deps.store) await store.close();
      },
    };
  } catch (err) {
    if (!deps.store) await store.close().catch(() => {});
    throw err;
  }
}

/** Which cached data an audit event changed (storage/changes.ts). */
function changeTopic(type: string): ChangeTopic | undefined {
  if (type.startsWith('client.') && type !== 'client.ip_denied') return 'clients';
  if (type.startsWith('api.')) return 'apis';
  if (type.startsWith('tenant.')) return 'tenants';
  if (type.startsWith('identity_provider.')) return 'identity-providers';
  if (type.startsWith('keys.')) return 'keys';
  return undefined;
}

/** A request refused by a client's IP allowlist: a warning in the log and a `client.ip_denied` audit entry. */
async function auditIpDenial(events: EventBus, log: Logger, d: IpDenial): Promise<void> {
  log.warn({ clientId: d.clientId, ip: d.ip, endpoint: d.endpoint }, 'client refused: address not in its ip_allowlist');
  await events.emit({
    type: 'client.ip_denied', tenantId: d.tenantId, subjectId: null, context: { ip: d.ip, userAgent: d.userAgent },
    data: { client_id: d.clientId, endpoint: d.endpoint, ...(d.grantType ? { grant_type: d.grantType } : {}) },
  }, (err) => log.error({ err }, 'event listener failed'));
}

function langContext(lang: EngineLanguage, brand: Brand) {
  return brandedContext(negotiateLocale(lang.uiLocales, lang.acceptLanguage), brand);
}

/** Engine events → logs, metrics and the failed-credential throttle. No tokens are logged. */
function wireEngineEvents(provider: Provider, log: Logger, metrics: Metrics, throttle: FailureThrottle): void {
  const requestId = (ctx: { req: unknown }) => (ctx.req as { tesseraRequestId?: string }).tesseraRequestId;
  provider.on('grant.success', (ctx) => {
    metrics.tokens.inc({ grant_type: String(ctx.oidc.params?.grant_type ?? 'unknown') });
  });
  const credentialFailure = (ctx: { req: unknown; ip: string; oidc?: { params?: Record<string, unknown> } }, err: { error?: string }) => {
    // Only failed client authentication counts: codes and refresh tokens are unguessable, and counting
    // their replays (e.g. racing refreshes) would let one buggy client lock out a whole NAT.
    if (err.error === 'invalid_client') throttle.recordFailure(ctx.ip);
  };
  provider.on('grant.error', (ctx, err) => {
    metrics.tokenErrors.inc({ error: (err as { error?: string }).error ?? 'unknown' });
    credentialFailure(ctx, err as { error?: string });
  });
  // Events the engine emits but its type definitions do not list.
  const emitter = provider as unknown as import('node:events').EventEmitter;
  for (const event of ['introspection.error', 'revocation.error']) {
    emitter.on(event, (ctx: Parameters<typeof credentialFailure>[0], err: { error?: string }) => credentialFailure(ctx, err));
  }
  provider.on('server_error', (ctx, err) => {
    // A database outage is answered 503 (oidc/unavailable.ts) and logged as what it is, not as a bug.
    if (err instanceof DatabaseUnavailableError) log.warn({ code: err.driverCode, detail: err.message, requestId: requestId(ctx), path: ctx.path }, 'database unavailable');
    else log.error({ err, requestId: requestId(ctx), path: ctx.path }, 'protocol engine error');
  });
  provider.on('backchannel.error', (_ctx, err, client) => {
    const clientId = (client as unknown as { clientId?: string })?.clientId;
    log.warn({ err: { message: (err as Error).message, cause: String((err as Error).cause ?? '') }, clientId }, 'back-channel logout delivery failed');
  });
  // Koa prints errors to stderr unless someone listens; route them to the JSON log instead.
  emitter.on('error', (err: Error) => log.error({ err }, 'protocol engine error'));
}
