import type Provider from 'oidc-provider';

/**
 * What step-up promises (docs/mfa.md#acr-values): a client that asks for an
 * authentication level (`acr_values`, or an `acr` claim request) gets an ID
 * token that says how the user signed in — `acr`, `amr` and `auth_time` — so
 * it can check both the level and how recent the sign-in is without asking
 * for each claim through the `claims` parameter.
 *
 * The engine releases an ID token's standalone claims only when they were
 * requested (its `mask`); here, a mask that requests `acr` also requests
 * `amr` and `auth_time`. This applies to ID tokens from the code and from
 * refreshes of it (the refresh token keeps the sign-in's claims request).
 */
export function releaseStepUpClaims(provider: Provider): void {
  type IdTokenLike = { mask?: Record<string, unknown>; payload(): Promise<Record<string, unknown>> };
  const proto = (provider.IdToken as unknown as { prototype: IdTokenLike }).prototype;
  const payload = proto.payload;
  proto.payload = async function payloadWithStepUp(this: IdTokenLike) {
    const mask = this.mask;
    if (mask && typeof mask === 'object' && 'acr' in mask) {
      this.mask = { amr: null, auth_time: { essential: true }, ...mask };
    }
    return payload.call(this);
  };
}
