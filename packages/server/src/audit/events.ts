/**
 * Typed domain events. Services emit them; subscribers (the audit log today,
 * webhooks later) consume them. Nothing matches request paths: a feature
 * that wants to react to sign-ins listens for `login.succeeded`.
 */
export type DomainEventType =
  | 'user.registered'
  /** A registration named an address that already has an account: nothing created, its owner mailed (docs/security.md#enumeration). */
  | 'user.registration_attempted'
  | 'user.confirmed'
  | 'user.invited'
  | 'user.phone_confirmed'
  | 'user.updated'
  | 'user.email_change_requested'
  | 'login.succeeded'
  | 'login.failed'
  | 'user.locked'
  | 'password.reset_requested'
  | 'password.reset'
  | 'password.changed'
  | 'session.revoked'
  | 'grant.revoked'
  /** Admin API writes (src/admin/): `data.actor_type` is user or client; the subject is the user, client, API or tenant acted on. */
  | 'user.created'
  | 'user.deleted'
  | 'user.disabled'
  | 'user.enabled'
  | 'user.unlocked'
  /** An operator set a user's password with `tessera users set-password` (`data.via: cli`). */
  | 'user.password_set'
  | 'user.roles_changed'
  /** A tenant's attribute schema changed (`data.attribute`; docs/users.md). */
  | 'attribute.saved'
  | 'attribute.deleted'
  /** A bulk import finished (`data`: counts, file or job, options). */
  | 'users.imported'
  /** An import job was started through the admin API (`data.job`). */
  | 'users.import_started'
  /** `tessera users export` wrote a tenant's users (`data.with_password_hashes` says whether hashes left too). */
  | 'users.exported'
  /** An activation mail left for an imported or created user without a password; `user.activated`: the user set one. */
  | 'user.activation_sent'
  | 'user.activated'
  | 'membership.added'
  | 'membership.removed'
  | 'tenant.created'
  | 'tenant.updated'
  /** A tenant's branding was changed (`data.fields`) or removed (`data.removed: true`) through the admin API. */
  | 'tenant.branding_changed'
  /** A platform administrator deleted a tenant (`data.cascade`, `data.deleted`: rows removed by kind). */
  | 'tenant.deleted'
  /** One user's data was exported (privacy/): by an administrator (`via: admin_api`) or by the user (`via: account`). */
  | 'user.exported'
  | 'role.saved'
  | 'role.deleted'
  | 'client.created'
  | 'client.updated'
  | 'client.deleted'
  | 'client.secret_rotated'
  /** A client registered itself (RFC 7591, /oidc/reg): `data.registration_token` is the initial access token's id (null: open registration). */
  | 'client.registered'
  /** Initial access tokens for dynamic registration (admin API): `data.registration_token` is the token's id, never the token. */
  | 'registration_token.created'
  | 'registration_token.revoked'
  | 'api.created'
  | 'api.updated'
  | 'api.deleted'
  | 'keys.rotated'
  /** Provisioning API tokens (docs/provisioning.md#api-tokens): `data.api_token` is the token's id, never the token. */
  | 'api_token.created'
  | 'api_token.revoked'
  /** A client called the token/introspection/revocation/PAR endpoint from outside its `ip_allowlist`. */
  | 'client.ip_denied'
  /** A token exchange (RFC 8693): `data.client` (the actor), `data.subject_client`, `data.audience`, `data.scope`; `subjectId` is the user. */
  | 'token.exchanged'
  /** MFA (src/mfa/): `data.kind` names the factor kind; never a secret or a code. */
  | 'mfa.enrolled'
  | 'mfa.removed'
  | 'mfa.verified'
  | 'mfa.challenge_failed'
  | 'mfa.reset'
  | 'mfa.recovery_code_used'
  | 'mfa.recovery_codes_regenerated'
  /** Identity providers (docs/federation.md): admin API changes; `data.secrets_set`/`secrets_changed` name secret fields, never values. */
  | 'identity_provider.created'
  | 'identity_provider.updated'
  | 'identity_provider.deleted'
  /** A provider's private_key_jwt client key rotated or staged (`data.stage`, `data.kid`: the new key's id; never key material). */
  | 'identity_provider.key_rotated'
  /** A federated sign-in (docs/federation.md#audit): `data.provider`, and for failures `data.reason` (a stable code). */
  | 'federation.login.succeeded'
  | 'federation.login.failed'
  /** A user created just in time from an upstream identity (`data.provider`). */
  | 'user.jit_created'
  /** An upstream identity linked to a local account (`data.provider`, `data.via`: proof, approval, account). */
  | 'user.linked'
  /** A link waits for an administrator's approval (`data.provider`, `data.request`). */
  | 'link.approval_requested'
  /** Federated logout (docs/federation.md#federated-logout): `data.via` rp_initiated (to the upstream) or backchannel (from it), `data.sessions`. */
  | 'federation.logout'
  /** An upstream back-channel logout token was refused (`data.reason`). */
  | 'federation.logout_refused'
  /** An administrator decided a link request (`data.request`). */
  | 'link.approved'
  | 'link.rejected'
  /** A person removed one of their links on /account (`data.provider`). */
  | 'user.unlinked'
  /** A directory sync finished (docs/directories.md#sync): `data` holds the provider and the counts. */
  | 'directory.synced'
  /** Contact sync (inbound/): two users became one (`data.survivor`, `data.merged`), or a user's personal data was erased. */
  | 'user.merged'
  | 'user.anonymized'
  /** Webhook subscriptions (webhooks/, docs/webhooks.md): `subject` is the subscription id; never the secret. */
  | 'webhook.created'
  | 'webhook.updated'
  | 'webhook.deleted'
  | 'webhook.secret_rotated'
  | 'webhook.replayed'
  /** Inbound contact sources (inbound/, docs/webhooks.md#inbound). */
  | 'inbound_source.saved'
  | 'inbound_source.deleted'
  | 'inbound_source.secret_rotated'
  /** A contact sync batch was applied (`data.source`, `data.message`, counts). */
  | 'contacts.synced';

/** Who did it and from where; filled in by the HTTP layer, absent for CLI/config actions. */
export interface EventContext {
  actorId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  /**
   * The id in the browser's verified device cookie (http/device-cookie.ts), for
   * the lockout's known sources (identity/sign-in-sources.ts). Never stored in the audit log.
   */
  device?: string | null;
}

export interface DomainEvent {
  type: DomainEventType;
  at: number;
  tenantId: string | null;
  /** The user the event is about. */
  subjectId: string | null;
  context: EventContext;
  /** Event-specific, never secrets. */
  data: Record<string, unknown>;
}

export type EventListener = (event: DomainEvent) => void | Promise<void>;

export class EventBus {
  private readonly listeners: EventListener[] = [];

  on(listener: EventListener): void {
    this.listeners.push(listener);
  }

  /**
   * Delivers an event to every listener, in order, and waits for them: the
   * audit entry is written before the request that caused it answers.
   * A failing listener is reported through `onError`, never to the caller.
   */
  async emit(event: Omit<DomainEvent, 'at'> & { at?: number }, onError?: (err: unknown) => void): Promise<void> {
    const full: DomainEvent = { ...event, at: event.at ?? Date.now() };
    for (const listener of this.listeners) {
      try {
        await listener(full);
      } catch (err) {
        onError?.(err);
      }
    }
  }
}
