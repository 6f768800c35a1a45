/** Bundles the SDK (esbuild); with `write: false`, returns the minified code instead of writing dist/. */
export function buildSdk(options?: { write?: boolean }): Promise<string | undefined>;
