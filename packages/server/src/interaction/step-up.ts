import { interactionPolicy } from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { ACR_MFA, acrLevel, acrSatisfies } from '../oidc/acr.js';

const { base, Check } = interactionPolicy;

/** The reason the login prompt carries when a live session is too weak for the request (step-up). */
export const STEP_UP_REASON = 'acr_step_up';
/** Reasons that ask only for a stronger level, never for the user to prove who they are again. */
export const STEP_UP_REASONS = new Set([STEP_UP_REASON, 'essential_acr', 'essential_acrs']);

type AcrClaim = { essential?: boolean; value?: unknown; values?: unknown } | null | undefined;

/**
 * True when an authorization request needs the MFA level, so this sign-in
 * must include a second factor: `acr_values` names it (OIDC Core §3.1.2.1;
 * voluntary there, but a client that names MFA wants it, as in RFC 9470
 * step-up), or an essential `acr` claim request (§5.5.1.1) accepts nothing
 * weaker. Unknown values are ignored.
 */
export function wantsMfa(params: Record<string, unknown>): boolean {
  if (typeof params.acr_values === 'string' && params.acr_values.split(' ').includes(ACR_MFA)) return true;
  const claim = parseClaims(params.claims)?.id_token?.acr;
  if (!claim || typeof claim !== 'object' || !claim.essential) return false;
  if (typeof claim.value === 'string') return claim.value === ACR_MFA;
  if (!Array.isArray(claim.values)) return false;
  const known = (claim.values as unknown[]).filter((v): v is string => typeof v === 'string' && acrLevel(v) >= 0);
  return known.length > 0 && known.every((v) => acrSatisfies(v, ACR_MFA));
}

function parseClaims(value: unknown): { id_token?: { acr?: AcrClaim } } | undefined {
  if (typeof value !== 'string') return typeof value === 'object' && value !== null ? value as { id_token?: { acr?: AcrClaim } } : undefined;
  try {
    return JSON.parse(value) as { id_token?: { acr?: AcrClaim } };
  } catch {
    return undefined;
  }
}

/**
 * The engine's interaction policy with Tessera's step-up rules:
 *
 * - `acr_step_up`: a request naming the MFA level (in `acr_values` or an
 *   acr claim request) while the session holds only a weaker one prompts
 *   `login` again, even though `acr_values` is voluntary in OIDC Core: a
 *   client that names MFA wants it (RFC 9470 step-up). The hosted login
 *   then asks only for the missing factor (interaction/flow.ts).
 * - `essential_acr(s)`: the engine's checks compare acr values for equality,
 *   so an MFA session would fail a request for the password level and loop.
 *   Tessera's levels are ordered: a stronger session satisfies a weaker request.
 */
export function stepUpInteractionPolicy(): interactionPolicy.DefaultPolicy {
  const policy = base();
  const login = policy.get('login')!;
  login.checks.remove('essential_acr');
  login.checks.remove('essential_acrs');

  const sessionAcr = (ctx: KoaContextWithOIDC): string | undefined => ctx.oidc.session?.acr;
  const acrClaim = (ctx: KoaContextWithOIDC): AcrClaim => (ctx.oidc.claims as { id_token?: { acr?: AcrClaim } } | undefined)?.id_token?.acr;

  login.checks.add(new Check(STEP_UP_REASON, 'a stronger authentication is required', 'login_required', (ctx) => {
    if (!ctx.oidc.session?.accountId) return Check.NO_NEED_TO_PROMPT; // no_session prompts already
    const wanted = typeof ctx.oidc.params?.acr_values === 'string' ? ctx.oidc.params.acr_values.split(' ') : [];
    if (!wanted.includes(ACR_MFA)) return Check.NO_NEED_TO_PROMPT;
    return acrSatisfies(sessionAcr(ctx), ACR_MFA) ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
  }, (ctx) => ({ acr_values: ctx.oidc.params?.acr_values as string })));

  login.checks.add(new Check('essential_acrs', 'none of the requested ACRs could be obtained', 'login_required', (ctx) => {
    const claim = acrClaim(ctx);
    if (!claim?.essential || claim.values === undefined) return Check.NO_NEED_TO_PROMPT;
    if (!Array.isArray(claim.values)) throw new TypeError('invalid claims.id_token.acr.values type');
    // The weakest acceptable value decides (the request accepts any of them).
    const levels = (claim.values as unknown[]).filter((v): v is string => typeof v === 'string' && acrLevel(v) >= 0);
    if (!levels.length) return Check.NO_NEED_TO_PROMPT; // unknown values only: nothing Tessera can obtain; the engine answers with what it has
    const weakest = levels.reduce((a, b) => (acrLevel(a) <= acrLevel(b) ? a : b));
    return acrSatisfies(sessionAcr(ctx), weakest) ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
  }, (ctx) => ({ acr: acrClaim(ctx) as Record<string, unknown> })));

  login.checks.add(new Check('essential_acr', 'requested ACR could not be obtained', 'login_required', (ctx) => {
    const claim = acrClaim(ctx);
    if (!claim?.essential || typeof claim.value !== 'string' || acrLevel(claim.value) < 0) return Check.NO_NEED_TO_PROMPT;
    return acrSatisfies(sessionAcr(ctx), claim.value) ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
  }, (ctx) => ({ acr: acrClaim(ctx) as Record<string, unknown> })));

  return policy;
}
