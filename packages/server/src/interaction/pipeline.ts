/**
 * The sign-in pipeline, as one table (read it like oidc-provider's
 * lib/actions/authorization/index.js): which named step runs on which entry.
 *
 * - `page`: GET /interaction/:uid at the login prompt (the sign-in page);
 * - `method`: a sign-in method verified something and calls `flow.complete`
 *   (a password, a passkey, a TOTP code, an upstream provider's answer).
 *
 * A step returns nothing to continue, or a reply that ends the request (a
 * page, a redirect to the second-factor page, the engine's redirect). The
 * steps themselves are methods of `SignInPipeline` (flow.ts), named here.
 */
export type Entry = 'page' | 'method';

export type StepName =
  | 'loadInteraction' | 'resolveTenant' | 'loadState' | 'stepUp' | 'choose'
  | 'resolveAccount' | 'checkUsable' | 'recordMethod' | 'assurance' | 'secondFactor' | 'interstitial' | 'finish';

const P: Entry = 'page';
const M: Entry = 'method';

export const PIPELINE: readonly (readonly [StepName, readonly Entry[]])[] = [
  ['loadInteraction', [P, M]], // the engine interaction (its cookie binds it to this browser)
  ['resolveTenant', [P, M]], //   the client's tenant (or the built-in apps' `tenant` parameter)
  ['loadState', [P, M]], //       what this sign-in completed so far (state.ts)
  ['stepUp', [P]], //             a live session only too weak: straight to the missing factor
  ['choose', [P]], //             the page of offered first factors
  ['resolveAccount', [M]], //     local account, or an upstream identity → account (federation's step: link, JIT, pause)
  ['checkUsable', [M]], //        disabled, locked, pending, other tenant, same account as recorded
  ['recordMethod', [M]], //       append to the completed methods
  ['assurance', [M]], //          achieved level (assurance.ts) vs wanted (policy.ts)
  ['secondFactor', [M]], //       short: 303 /interaction/:uid/mfa (challenge or enrollment)
  ['interstitial', [M]], //       a method's page before going on (new recovery codes)
  ['finish', [M]], //             finish hooks, then the engine's interaction result (accountId, acr, amr)
];

/** The steps an entry runs, in order. */
export function stepsFor(entry: Entry): StepName[] {
  return PIPELINE.filter(([, on]) => on.includes(entry)).map(([name]) => name);
}
