import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { FastifyRequest } from 'fastify';
import type { AccountStep, FinishHook } from '../interaction/methods.js';
import type { SignInFlow } from '../interaction/flow.js';
import type { RoleRepository, UserRepository } from '../identity/repository.js';
import type { EventBus } from '../audit/events.js';
import type { Metrics } from '../http/metrics.js';
import type { Database } from '../storage/schema.js';
import { ConflictError } from '../storage/errors.js';
import { actingTenant } from '../identity/model.js';
import type { ExternalLinkRepository } from './links.js';
import type { LinkRequests } from './link-requests.js';
import type { ProviderRegistry } from './providers.js';
import type { FederatedSessions } from './sessions.js';
import type { ProfileCompletion } from './profile-completion.js';
import { ROUND_TRIP_TYPES } from './method.js';
import { federationFailure } from './audit.js';
import type { FailureContext } from './audit.js';
import { applyGroupMappings } from './groups.js';
import type { ErrorCode } from '../http/errors.js';

export interface AccountStepDeps {
  db: Kysely<Database>;
  registry: ProviderRegistry;
  links: ExternalLinkRepository;
  linkRequests: LinkRequests;
  users: UserRepository;
  roles: RoleRepository;
  events: EventBus;
  metrics: Metrics;
  log: Logger;
  flow: () => SignInFlow;
  sessions: FederatedSessions;
  profile: ProfileCompletion;
}

/**
 * Federation's account step (docs/federation.md#accounts): an upstream
 * identity becomes a local account through, in order,
 *  1. its link (provider + subject in the tenant, else in the home tenant of
 *     one member of this tenant) — `last_used_at` moves;
 *  2. an email that belongs to a local account — never linked silently: an
 *     unverified (or untrusted) email is refused; `link: never` refuses;
 *     `admin_approval` queues a request; `with_proof` pauses on the sign-in
 *     page until the person signs in to that account in this interaction
 *     (the finish hook then links);
 *  3. JIT (`jit: create | approve`), or `no_account`.
 * Group mappings run at every federated sign-in of a linked account.
 */
export function federationAccountStep(deps: AccountStepDeps): AccountStep {
  const fail = (request: FastifyRequest, code: ErrorCode, ctx: FailureContext) => federationFailure(deps, request, code, ctx);
  const emit = async (request: FastifyRequest, type: 'user.jit_created' | 'user.linked' | 'link.approval_requested', tenantId: string, subjectId: string, data: Record<string, unknown>) => {
    await deps.events.emit({ type, tenantId, subjectId, context: { ip: request.ip, userAgent: request.headers['user-agent'] ?? null }, data },
      (err) => deps.log.error({ err }, 'event listener failed'));
  };

  return async ({ request, reply, details, uid, tenantId, result }) => {
    const ext = result.subject.external;
    const p = await deps.registry.get(ext.provider);
    const ctx = { provider: ext.provider, tenantId };
    if (!p || !p.enabled) return fail(request, p ? 'identity_provider_disabled' : 'unknown_identity_provider', ctx);
    const groups = request.tesseraFederation?.mapped.groups ?? [];

    // The tenant's own link first; else the link of a member from another tenant (the account they signed
    // in with there, docs/identity.md#memberships-in-other-tenants). Two such members: nobody, never a guess.
    let link = await deps.links.find(tenantId, p.alias, ext.subject);
    if (!link) {
      const members = await deps.links.findOfMembers(tenantId, p.alias, ext.subject);
      if (members.length > 1) return fail(request, 'no_account', { ...ctx, detail: 'the upstream account is linked to several members of the tenant' });
      link = members[0];
    }
    if (link) {
      const user = await deps.users.findById(link.userId);
      if (!user) return fail(request, 'no_account', { ...ctx, detail: 'linked user is gone' });
      if (user.status === 'pending' && p.jit === 'approve') return fail(request, 'approval_pending', ctx);
      await deps.links.touch(link.tenantId, p.alias, ext.subject);
      await applyGroupMappings(deps, p, user, groups);
      return { userId: user.id };
    }

    const local = ext.email ? await deps.users.findByEmail(tenantId, ext.email) : undefined;
    if (local) {
      // Never by email alone: an address the upstream did not verify (or we do not trust it to) could be anyone's.
      if (!ext.emailVerified) return fail(request, 'email_not_verified', ctx);
      if (p.link === 'never') return fail(request, 'link_refused', ctx);
      if (p.link === 'admin_approval') {
        const { request: lr, created } = await deps.linkRequests.approval({ tenantId, provider: p.alias, subject: ext.subject, userId: local.id, email: ext.email ?? null, kind: 'link' });
        if (created) await emit(request, 'link.approval_requested', tenantId, local.id, { provider: p.alias, request: lr.id, kind: 'link' });
        return fail(request, 'approval_pending', ctx);
      }
      await deps.linkRequests.proof({ uid, tenantId, provider: p.alias, subject: ext.subject, userId: local.id, email: ext.email ?? null });
      request.log.info({ event: 'federation.link_required', provider: p.alias }, 'upstream email belongs to a local account: proof required');
      await deps.flow().signInPage(request, reply, { details, uid, tenantId }, { notice: 'federation.link_required', username: local.username ?? local.email ?? undefined });
      return { paused: true };
    }

    if (p.jit === 'off') return fail(request, 'no_account', ctx);
    const mapped = request.tesseraFederation?.mapped;
    // A required (verified) email the upstream did not release: asked for and confirmed by mail (profile-completion.ts).
    if (mapped && ROUND_TRIP_TYPES.has(p.type) && ((p.required_claims.includes('email') && !ext.email) || (p.required_claims.includes('email_verified') && !ext.emailVerified))) {
      await deps.profile.ask(request, reply, { details, uid, tenantId }, p, mapped);
      return { paused: true };
    }
    if (p.required_claims.includes('email') && !ext.email) return fail(request, 'profile_incomplete', { ...ctx, detail: 'no email' });
    if (p.required_claims.includes('email_verified') && !ext.emailVerified) return fail(request, 'email_not_verified', { ...ctx, detail: 'required verified email' });
    if (p.required_claims.includes('name') && !mapped?.name && !mapped?.givenName) return fail(request, 'profile_incomplete', { ...ctx, detail: 'no name' });
    let user;
    try {
      user = await deps.users.create({
        tenantId, email: ext.email ?? null, emailVerified: ext.emailVerified === true,
        givenName: mapped?.givenName ?? null, familyName: mapped?.familyName ?? null,
        status: p.jit === 'approve' ? 'pending' : 'active',
      });
      await deps.links.link({ tenantId, provider: p.alias, subject: ext.subject, userId: user.id, email: ext.email ?? null });
    } catch (err) {
      // Another sign-in created the account or the link meanwhile: this one stops cleanly.
      if (err instanceof ConflictError) return fail(request, 'no_account', { ...ctx, detail: err.message });
      throw err;
    }
    const roles = (await deps.roles.list(tenantId)).map((r) => r.name);
    const defaults = p.default_roles.filter((r) => roles.includes(r));
    if (defaults.length) await deps.users.setRoles(user.id, tenantId, defaults);
    for (const t of p.default_memberships) if (t !== tenantId) await deps.users.addMembership(user.id, t).catch((err) => deps.log.warn({ err, tenant: t }, 'default membership skipped'));
    await emit(request, 'user.jit_created', tenantId, user.id, { provider: p.alias, pending: p.jit === 'approve' });
    await emit(request, 'user.linked', tenantId, user.id, { provider: p.alias, via: 'jit' });
    await applyGroupMappings(deps, p, user, groups);
    if (p.jit === 'approve') {
      const { request: lr } = await deps.linkRequests.approval({ tenantId, provider: p.alias, subject: ext.subject, userId: user.id, email: ext.email ?? null, kind: 'account' });
      await emit(request, 'link.approval_requested', tenantId, user.id, { provider: p.alias, request: lr.id, kind: 'account' });
      return fail(request, 'approval_pending', ctx);
    }
    return { userId: user.id };
  };
}

/**
 * Before a sign-in finishes: (1) a link the person was asked to prove is
 * made when this sign-in is to that very account, with a local method
 * (not the upstream itself); (2) a federated sign-in is audited and counted.
 */
export function federationFinishHook(deps: AccountStepDeps): FinishHook {
  return async ({ request, uid, user, completed, amr, acr }) => {
    const proof = await deps.linkRequests.takeProof(uid);
    const context = { ip: request.ip, userAgent: request.headers['user-agent'] ?? null };
    if (proof) {
      const local = !completed.some((m) => m.amr.includes('fed'));
      if (proof.userId === user.id && local) {
        try {
          await deps.links.link({ tenantId: proof.tenantId, provider: proof.provider, subject: proof.subject, userId: user.id, email: proof.email });
          await deps.events.emit({ type: 'user.linked', tenantId: user.tenantId, subjectId: user.id, context, data: { provider: proof.provider, via: 'proof', amr } },
            (err) => deps.log.error({ err }, 'event listener failed'));
        } catch (err) {
          if (!(err instanceof ConflictError)) throw err;
        }
      } else {
        request.log.info({ event: 'federation.link_dropped', provider: proof.provider }, 'the proof sign-in was to another account: no link');
      }
    }
    const fed = completed.find((m) => m.provider && m.amr.includes('fed'));
    // Federated logout: the upstream sign-in this interaction kept is the user's only if it finished through it.
    if (fed) await deps.sessions.claim(uid, user.id);
    else await deps.sessions.discard(uid);
    if (fed) {
      deps.metrics.federationLogins.inc({ provider: fed.provider!, outcome: 'ok' });
      await deps.events.emit({
        // Filed under the tenant signed in to (a member's other tenant), as login.succeeded is.
        type: 'federation.login.succeeded', tenantId: actingTenant(user), subjectId: user.id, context,
        data: { provider: fed.provider, upstream_mfa: fed.upstreamMfa === true, acr, amr },
      }, (err) => deps.log.error({ err }, 'event listener failed'));
    }
  };
}
