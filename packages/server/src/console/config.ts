/*
 * The contract between the platform and the console SPA. Import-free on
 * purpose: the SPA (packages/console) imports this type too, so both sides
 * of GET /admin/config.json are checked against one definition.
 */

/** What the SPA reads at start (GET /admin/config.json): everything it needs to sign in and call the admin API. */
export interface ConsoleConfig {
  issuer: string;
  client_id: string;
  redirect_uri: string;
  post_logout_redirect_uri: string;
  /** The admin API's resource indicator (RFC 8707): the `aud` of the tokens the console asks for. */
  resource: string;
  scope: string;
  api_base: string;
  /** Step-up (RFC 9470): the console asks for this acr, with `max_age` = step_up_max_age, then retries. */
  acr_mfa: string;
  step_up_max_age: number;
}
