import { createRequire } from 'node:module';

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

/**
 * The exports of a CommonJS package loaded with `import()`. Node gives its
 * namespace named exports (guessed from the source) and `default`
 * (`module.exports`); in the bundled build (scripts/build.mjs, esbuild with
 * code splitting) a dynamically imported CommonJS package has only
 * `default`. `module.exports` is right in both.
 */
export function commonJs<T>(ns: T): T {
  return (ns as { default?: T }).default ?? ns;
}

const requireHere = createRequire(import.meta.url);

/**
 * The same for a CommonJS dependency needed by code that cannot wait (a
 * synchronous constructor such as `openStore`): required on the first call,
 * from Node's module cache afterwards. The value is the package's
 * `module.exports`, what a default import of it gives.
 */
export function requireOnUse<T>(id: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= requireHere(id) as T);
}
