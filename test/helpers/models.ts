/**
 * Where the tests find models: the installed sts-whisper-* packages and the
 * prepared graphs that scripts/provision.sh builds (npm run prepare-models).
 */
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

const require = createRequire(import.meta.url);

/** The repository's prepared-graphs folder, `models/prepared`. */
export const PREPARED_ROOT = resolve(dirname(require.resolve('../../package.json')), 'models', 'prepared');

/** Folder of the q8 Xenova export shipped by `sts-whisper-<size>`. */
export function packagedModelDir(size: 'tiny' | 'base' | 'small'): string {
  return join(dirname(require.resolve(`sts-whisper-${size}/package.json`)), 'models', 'Xenova', `whisper-${size}`);
}
