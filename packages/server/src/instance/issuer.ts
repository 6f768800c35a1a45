import type { InstanceRepository } from './repository.js';

/**
 * The issuer a CLI command works with: the one the store was served as.
 * CLI commands are usually run without the server's PORT / TESSERA_ISSUER,
 * so the environment's value (the `http://localhost:3000` default) would
 * print wrong endpoints and mail dead links. The recorded issuer wins; when
 * the environment names another one explicitly, the operator is told, and
 * nothing that depends on the issuer is changed (only `serve` changes it).
 */
export async function cliIssuer(
  instance: InstanceRepository,
  fromEnvironment: string,
  env: NodeJS.ProcessEnv,
  warn: (message: string) => void,
): Promise<string> {
  const served = await instance.servedIssuer();
  if (!served) return fromEnvironment;
  const explicit = env.TESSERA_ISSUER !== undefined || env.PORT !== undefined;
  if (explicit && served !== fromEnvironment) {
    const source = env.TESSERA_ISSUER !== undefined ? 'TESSERA_ISSUER' : 'PORT';
    warn(`tessera: warning: this store is served as ${served} (recorded by \`tessera serve\`), not ${fromEnvironment} (from ${source}); `
      + `this command uses ${served}. To move the server to ${fromEnvironment}, start \`tessera serve\` with it.`);
  }
  return served;
}
