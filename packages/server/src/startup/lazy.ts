/**
 * A module loaded on first use instead of at start (issue 20): compiling a
 * dependency's JavaScript is most of Tessera's start-up time and much of its
 * idle memory, and several are needed only by a feature a deployment may never
 * use (passkey ceremonies, SAML, LDAP, Redis, SMTP, PostgreSQL on SQLite…).
 * The first call starts the import; every later call gets the same promise. A
 * failed import is not cached, so a transient failure is retried.
 */
export function lazy<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () => (loading ??= load().catch((err: unknown) => {
    loading = undefined;
    throw err;
  }));
}
