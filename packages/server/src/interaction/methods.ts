import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { User } from '../identity/model.js';
import type { PageContext } from '../web/layout.js';
import type { PageSlot } from '../web/slots.js';
import type { SignInFlow } from './flow.js';
import type { InteractionDetails } from './details.js';
import type { CompletedMethod } from './state.js';

/**
 * The registry of sign-in methods (docs/architecture: "Sign-in methods").
 * A method — password, passkey, TOTP, recovery code, an upstream identity
 * provider, LDAP, SAML — registers itself with what it renders, which routes
 * it owns and what `amr` it proves; `interaction/` knows the pipeline
 * (pipeline.ts), never a method's module. Adding a method adds a folder and
 * one `platform.signIn.register(...)` line.
 */

/** `first`: identifies the person (password, passkey, upstream provider); `second`: adds a factor to a first one. */
export type MethodKind = 'first' | 'second';

/** An identity asserted by an upstream provider, before it is tied to a local account (federation). */
export interface ExternalIdentity {
  /** The provider's alias. */
  provider: string;
  /** The provider's stable subject for the person. */
  subject: string;
  email?: string | null;
  emailVerified?: boolean;
  /** Every claim the provider released, after the provider's claim mapping. */
  claims: Record<string, unknown>;
}

/** What a method hands to `flow.complete` after it verified something. */
export interface MethodResult {
  /** The registered method id ('password', 'passkey', 'totp', 'oidc'…). */
  method: string;
  /** Whether this was the first factor of the sign-in or a second factor for the recorded one. */
  kind: MethodKind;
  /**
   * A local account, or an upstream identity an account step (federation) turns into one.
   * `user`: the account as the method read it just now, when it did (the pipeline then need not read it again).
   */
  subject: { userId: string; user?: User } | { external: ExternalIdentity };
  /** RFC 8176 values this success proves (e.g. ['pwd'], ['hwk', 'user'], ['otp'], ['fed']). */
  amr: string[];
  /** The upstream's acr/amr matched the provider's MFA trust list: the sign-in counts as multi-factor. */
  upstreamMfa?: boolean;
  /** An upstream provider's alias, recorded with the completed method. */
  provider?: string;
  /** The method emitted `login.succeeded` itself (the password check does); otherwise the pipeline does for a first factor. */
  audited?: boolean;
  /** A page to show once the factors are done, before the sign-in goes on (e.g. new recovery codes). */
  interstitial?: Interstitial;
}

export interface Interstitial {
  title: string;
  /** The page body; its form posts to `continueAction` (escaped by the method). */
  body(continueAction: string): string;
}

/** The first-factor page (the sign-in page) as a method sees it. */
export interface FirstSlotView {
  kind: 'first';
  ctx: PageContext;
  /** The engine interaction (routes live under /interaction/:uid/). */
  uid: string;
  tenantId: string;
  /** The authorization request's parameters (login_hint, ui_locales…). */
  params: Record<string, unknown>;
  /** The username to prefill (login_hint, or what was typed before an error). */
  username?: string;
  /** An error (catalogue text) the page shows, e.g. after a wrong password. */
  error?: string;
  /** Username-field autocomplete tokens other methods ask for (e.g. 'webauthn' for passkey autofill). */
  usernameAutocomplete: readonly string[];
}

/** The second-factor page (challenge or enrollment) as a method sees it. */
export interface SecondSlotView {
  kind: 'second';
  ctx: PageContext;
  uid: string;
  user: User;
  /** True when the session's account is stepping up (no password was asked this time). */
  stepUp: boolean;
  /** The method whose form failed, the error code to show in it, and values to keep in its fields. */
  error?: { method: string; code: string; values?: Record<string, string> };
  /** The ids of the second-factor methods this page offers (a method may adapt, e.g. open its fold when alone). */
  offered: readonly string[];
  /** Methods' scratch values kept with this sign-in (e.g. the TOTP enrollment on screen). */
  data: Readonly<Record<string, unknown>>;
  setData(key: string, value: unknown): Promise<void>;
}

export type SlotView = FirstSlotView | SecondSlotView;

/** Where a second factor's fragment sits on the challenge page. */
export type SlotRegion = 'main' | 'extra' | 'fallback';

export interface MethodSlot extends PageSlot {
  /** Second-factor pages: `main` forms first, `extra` (other authenticators) next, `fallback` (recovery) last. Default `extra`. */
  region?: SlotRegion;
}

/** Whether a method is offered for this page. */
export interface OfferContext {
  kind: MethodKind;
  tenantId: string;
  params: Record<string, unknown>;
  /** The person signing in, on second-factor pages. */
  user?: User;
}

export interface SignInMethod {
  /** Unique id: 'password', 'passkey', 'totp', 'recovery_code', 'oidc'… */
  id: string;
  kinds: readonly MethodKind[];
  /** RFC 8176 values a success proves (a completion may add e.g. 'user'). */
  amr: readonly string[];
  /** Lower renders first on a page (default 100). */
  order?: number;
  /** Offered on this page? (tenant settings, the user's enrolled factors). Default: yes. */
  offered?(ctx: OfferContext): Promise<boolean>;
  /** Its fragment of the sign-in page (`first`) or of the second-factor challenge (`second`). */
  slot?(view: SlotView): Promise<MethodSlot | undefined>;
  /** Its fragment of "MFA required, none yet": enrollment inside the sign-in. */
  enrollSlot?(view: SecondSlotView): Promise<MethodSlot | undefined>;
  /** Username-field autocomplete token this method asks for on the sign-in page (passkeys: 'webauthn'). */
  usernameAutocomplete?: string;
  /**
   * Takes the sign-in page over: a URL the browser goes to at once instead
   * of the page (an upstream provider named by `idp_hint`, found by the
   * login_hint's email domain, or the only way to sign in). Not asked when
   * the page is shown again with an error.
   */
  redirect?(view: FirstSlotView): Promise<string | undefined>;
  /** Its routes (POSTs, starts, callbacks); the flow is the only sign-in module it needs. */
  routes?(app: FastifyInstance, flow: SignInFlow): void;
}

/** What an account step sees: an upstream identity to turn into a local account. */
export interface AccountStepContext {
  request: FastifyRequest;
  reply: FastifyReply;
  details: InteractionDetails;
  uid: string;
  tenantId: string;
  result: MethodResult & { subject: { external: ExternalIdentity } };
}

/**
 * Turns an upstream identity into a local account (federation: an existing
 * link, JIT creation, or a pause for linking or profile completion).
 * Returns the account, or `paused` once it has replied (a page or a redirect
 * that pauses the sign-in).
 */
export type AccountStep = (ctx: AccountStepContext) => Promise<{ userId: string } | { paused: true }>;

/**
 * Runs just before a sign-in finishes as `user` (e.g. writes an account link
 * the person just proved). Returns true once it has replied itself (the
 * sign-in then stops there, e.g. an approval page).
 */
export type FinishHook = (ctx: {
  request: FastifyRequest; reply: FastifyReply; uid: string; user: User; amr: readonly string[]; acr: string; completed: readonly CompletedMethod[];
}) => Promise<boolean | void>;

/** The registry; one per app, on the Platform as `platform.signIn`. */
export class SignInMethods {
  private readonly methods = new Map<string, SignInMethod>();
  private accountStep?: AccountStep;
  private readonly finishHooks: FinishHook[] = [];

  /** @throws Error when the id is taken (a wiring mistake). */
  register(method: SignInMethod): void {
    if (this.methods.has(method.id)) throw new Error(`sign-in method ${method.id} is already registered`);
    this.methods.set(method.id, method);
  }

  get(id: string): SignInMethod | undefined {
    return this.methods.get(id);
  }

  /** Methods of one kind, in page order. */
  list(kind?: MethodKind): SignInMethod[] {
    return [...this.methods.values()].filter((m) => !kind || m.kinds.includes(kind))
      .sort((a, b) => (a.order ?? 100) - (b.order ?? 100));
  }

  /** @throws Error when one is set already: upstream identities have one owner (federation). */
  setAccountStep(step: AccountStep): void {
    if (this.accountStep) throw new Error('an account step is already registered');
    this.accountStep = step;
  }

  account(): AccountStep | undefined {
    return this.accountStep;
  }

  onFinish(hook: FinishHook): void {
    this.finishHooks.push(hook);
  }

  finishing(): readonly FinishHook[] {
    return this.finishHooks;
  }
}
