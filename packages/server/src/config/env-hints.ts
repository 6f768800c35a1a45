import { envSchema } from './schema.js';
import { closest } from './suggest.js';

/**
 * `TESSERA_*` variables the schema does not know are ignored by the schema
 * (the environment holds everything else too), so a misspelt one would
 * silently change nothing: name each, with a suggestion.
 */
export function unknownTesseraVariables(env: NodeJS.ProcessEnv): string[] {
  const known = Object.keys(envSchema.shape);
  return Object.keys(env).filter((k) => k.startsWith('TESSERA_') && !known.includes(k)).sort().map((k) => {
    const guess = closest(k, known);
    return `${k} is not a Tessera setting and is ignored${guess ? ` (did you mean ${guess}?)` : ''}`;
  });
}
