/**
 * The MFA factor framework. Each kind of second factor (TOTP, recovery codes,
 * passkeys) is a `FactorProvider` registered with `MfaFactors`; the login
 * step, the account pages and the policy ask the registry, never a factor's
 * storage directly, so a new kind plugs in without touching them.
 *
 * This is the management side (the Security page, admin reset,
 * `hasSecondFactor`); signing in with a factor is its sign-in method's job
 * (interaction/methods.ts: TOTP and recovery codes in ./methods.ts, passkeys
 * in ./passkeys/feature.ts).
 */

import type { User } from '../identity/model.js';
import type { PageContext } from '../web/layout.js';
import type { PageSlot } from '../web/slots.js';

export type FactorKind = 'totp' | 'recovery_code' | 'passkey';

/** One enrolled factor as the pages and the admin API show it (never its secret). */
export interface EnrolledFactor {
  id: string;
  kind: FactorKind;
  label: string;
  /** Epoch milliseconds. */
  createdAt: number;
  lastUsedAt: number | null;
}

export interface FactorProvider {
  kind: FactorKind;
  /** The user's enrolled (confirmed) factors of this kind. */
  list(userId: string): Promise<EnrolledFactor[]>;
  /** Removes one factor; false when the user has no such factor. */
  remove(userId: string, factorId: string): Promise<boolean>;
  /** RFC 8176 `amr` values a successful use of this factor contributes (e.g. ['otp'], ['hwk', 'user']). */
  amr: string[];
  /**
   * Removes every factor of this kind for the user (admin reset). Optional:
   * without it, the registry removes the listed factors one by one.
   */
  removeAll?(userId: string): Promise<number>;
  /**
   * Whether this kind on its own satisfies "the user has a second factor".
   * Recovery codes do not: they are a fallback for a lost authenticator,
   * never the only factor. Defaults to true.
   */
  countsAsSecondFactor?: boolean;
  /** Optional: this factor's section on the account Security page (/account/security). */
  accountSlot?(view: AccountSlotView): Promise<PageSlot | undefined>;
}

export interface AccountSlotView {
  ctx: PageContext;
  user: User;
  /** The CSRF form token to put in every POST form (`csrfInput(csrf)`). */
  csrf: string;
  /** True when policy requires MFA for this user (the last second factor cannot be removed). */
  mfaRequired: boolean;
  /** How many second factors (all kinds, recovery codes excluded) the user has. */
  secondFactorCount: number;
  /** The page's query string: a factor's own notices after its redirects (e.g. `?passkeys=added`). */
  query?: Record<string, unknown>;
}

/**
 * The registry of factor kinds. One per app (the composition root creates
 * it and puts it on the Platform as `platform.mfa`).
 */
export class MfaFactors {
  private readonly providers = new Map<FactorKind, FactorProvider>();

  /** @throws Error when a provider for the same kind is already registered (a wiring mistake). */
  register(provider: FactorProvider): void {
    if (this.providers.has(provider.kind)) throw new Error(`MFA factor kind ${provider.kind} is already registered`);
    this.providers.set(provider.kind, provider);
  }

  has(kind: FactorKind): boolean {
    return this.providers.has(kind);
  }

  provider(kind: FactorKind): FactorProvider | undefined {
    return this.providers.get(kind);
  }

  kinds(): FactorKind[] {
    return [...this.providers.keys()];
  }

  /** All the user's enrolled factors, of every registered kind. */
  async forUser(userId: string): Promise<EnrolledFactor[]> {
    const lists = await Promise.all([...this.providers.values()].map((p) => p.list(userId)));
    return lists.flat();
  }

  /** True when the user has at least one factor that can stand as a second factor (recovery codes alone do not). */
  async hasSecondFactor(userId: string): Promise<boolean> {
    for (const p of this.providers.values()) {
      if (p.countsAsSecondFactor === false) continue;
      if ((await p.list(userId)).length > 0) return true;
    }
    return false;
  }

  /** Removes one factor of the given kind. */
  async remove(userId: string, kind: FactorKind, factorId: string): Promise<boolean> {
    return (await this.providers.get(kind)?.remove(userId, factorId)) ?? false;
  }

  /** Removes every factor of every kind (admin reset); returns how many were removed. */
  async removeAll(userId: string): Promise<number> {
    let removed = 0;
    for (const p of this.providers.values()) {
      if (p.removeAll) {
        removed += await p.removeAll(userId);
        continue;
      }
      for (const f of await p.list(userId)) if (await p.remove(userId, f.id)) removed++;
    }
    return removed;
  }
}
