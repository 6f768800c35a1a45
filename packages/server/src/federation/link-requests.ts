import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import { shape, writeShape } from '../storage/compiled.js';

/** `takeProof`'s statements, compiled once (storage/compiled.ts): run on every sign-in, where Kysely building it anew cost about as much CPU as SQLite took to run it (issue 20). */
const proofOf = shape((db: Kysely<Database>, uid: string) => db.selectFrom('link_requests').selectAll().where('uid', '=', uid).where('kind', '=', 'proof'));
const deleteRequest = writeShape((db: Kysely<Database>, id: string) => db.deleteFrom('link_requests').where('id', '=', id));

/**
 * Links waiting for proof or approval (docs/federation.md#linking). A
 * `proof` request is bound to one engine interaction (uid), the upstream
 * identity (provider + subject) and the local account its email matched:
 * the link is made only if that same account then signs in in that same
 * interaction (Keycloak's CVE-2026-9087 keyed its proof by user and alias
 * only). An `approval` request waits for an administrator.
 */
export interface LinkRequest {
  id: string;
  tenantId: string;
  provider: string;
  subject: string;
  userId: string;
  email: string | null;
  kind: 'proof' | 'approval';
  /** Of an approval: `link` (an existing account's email; link: admin_approval) or `account` (a JIT account; jit: approve). */
  approvalKind: 'link' | 'account';
  uid: string | null;
  status: 'pending' | 'approved' | 'rejected';
  createdAt: number;
  expiresAt: number;
  decidedAt: number | null;
  decidedBy: string | null;
}

const PROOF_TTL_MS = 15 * 60_000;
const APPROVAL_TTL_MS = 30 * 86_400_000;

export class LinkRequests {
  constructor(private readonly db: Kysely<Database>) {}

  private static toRequest(r: Database['link_requests']): LinkRequest {
    return {
      id: r.id, tenantId: r.tenant_id, provider: r.provider, subject: r.subject, userId: r.user_id, email: r.email,
      kind: r.kind as LinkRequest['kind'], approvalKind: r.approval_kind === 'account' ? 'account' : 'link', uid: r.uid, status: r.status as LinkRequest['status'], createdAt: Number(r.created_at),
      expiresAt: Number(r.expires_at), decidedAt: r.decided_at === null ? null : Number(r.decided_at), decidedBy: r.decided_by,
    };
  }

  /** A link to prove in interaction `uid` (replaces an earlier one of that interaction). */
  async proof(input: { uid: string; tenantId: string; provider: string; subject: string; userId: string; email: string | null }, now = Date.now()): Promise<LinkRequest> {
    await this.db.deleteFrom('link_requests').where('uid', '=', input.uid).where('kind', '=', 'proof').execute();
    const row = {
      id: randomUUID(), tenant_id: input.tenantId, provider: input.provider, subject: input.subject, user_id: input.userId, email: input.email,
      kind: 'proof', approval_kind: null, uid: input.uid, status: 'pending', created_at: now, expires_at: now + PROOF_TTL_MS, decided_at: null, decided_by: null,
    };
    await this.db.insertInto('link_requests').values(row).execute();
    return LinkRequests.toRequest(row);
  }

  /** Takes (once) the proof request of interaction `uid`, if not expired. */
  async takeProof(uid: string, now = Date.now()): Promise<LinkRequest | undefined> {
    const [row] = await proofOf.execute(this.db, uid);
    if (!row) return undefined;
    if (await deleteRequest.run(this.db, row.id) !== 1 || Number(row.expires_at) <= now) return undefined;
    return LinkRequests.toRequest(row);
  }

  /** The pending approval request for this identity and account, or a new one; `created` says which. */
  async approval(input: { tenantId: string; provider: string; subject: string; userId: string; email: string | null; kind: 'link' | 'account' }, now = Date.now()): Promise<{ request: LinkRequest; created: boolean }> {
    const existing = await this.db.selectFrom('link_requests').selectAll().where('kind', '=', 'approval').where('tenant_id', '=', input.tenantId)
      .where('provider', '=', input.provider).where('subject', '=', input.subject).where('user_id', '=', input.userId)
      .where('status', '=', 'pending').where('expires_at', '>', now).executeTakeFirst();
    if (existing) return { request: LinkRequests.toRequest(existing), created: false };
    const row = {
      id: randomUUID(), tenant_id: input.tenantId, provider: input.provider, subject: input.subject, user_id: input.userId, email: input.email,
      kind: 'approval', approval_kind: input.kind, uid: null, status: 'pending', created_at: now, expires_at: now + APPROVAL_TTL_MS, decided_at: null, decided_by: null,
    };
    await this.db.insertInto('link_requests').values(row).execute();
    return { request: LinkRequests.toRequest(row), created: true };
  }

  async get(id: string): Promise<LinkRequest | undefined> {
    const row = await this.db.selectFrom('link_requests').selectAll().where('id', '=', id).where('kind', '=', 'approval').executeTakeFirst();
    return row && LinkRequests.toRequest(row);
  }

  /** Approval requests, newest first; `tenantId` confines them to one tenant. */
  async list(opts: { tenantId?: string; status?: LinkRequest['status'] } = {}): Promise<LinkRequest[]> {
    let q = this.db.selectFrom('link_requests').selectAll().where('kind', '=', 'approval');
    if (opts.tenantId) q = q.where('tenant_id', '=', opts.tenantId);
    if (opts.status) q = q.where('status', '=', opts.status);
    return (await q.orderBy('created_at', 'desc').orderBy('id').limit(500).execute()).map(LinkRequests.toRequest);
  }

  /** Decides a pending request; false when it was decided meanwhile (the first decision wins). */
  async decide(id: string, status: 'approved' | 'rejected', by: string, now = Date.now()): Promise<boolean> {
    const res = await this.db.updateTable('link_requests').set({ status, decided_at: now, decided_by: by })
      .where('id', '=', id).where('status', '=', 'pending').executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }
}
