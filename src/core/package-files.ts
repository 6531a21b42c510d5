/**
 * Where this package's own files are, whether the code runs from its
 * TypeScript sources (tsx, tests) or compiled to `dist/` (`npm run build`,
 * `npm start`, the images). Compiled modules sit one folder deeper
 * (`dist/src/...`), so files outside the code (Python tools, bundled models)
 * are found from the package root, never by a fixed number of `..`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'meno-transcription';
const here = fileURLToPath(import.meta.url);

/** True when this code runs compiled to JavaScript, false when it runs its TypeScript sources. */
export const RUNS_COMPILED = here.endsWith('.js');

/** The folder of the package's package.json. */
export const PACKAGE_ROOT = findPackageRoot(dirname(here));

/** A module beside `base` (the caller's import.meta.url) in the form this code runs: `name.ts` from sources, `name.js` compiled. */
export function siblingModule(base: string, name: string): URL {
  return new URL(`${name}${RUNS_COMPILED ? '.js' : '.ts'}`, base);
}

/** The nearest folder above `start` whose package.json is this package's (dist/ has none, node_modules' are others'). */
function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === PACKAGE_NAME) return dir;
    if (dirname(dir) === dir) throw new Error(`the ${PACKAGE_NAME} package.json was not found above ${start}`);
  }
}
