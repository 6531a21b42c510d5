/**
 * Finds a Whisper model folder from a path or a short name.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { NotFoundError } from '../../core/errors.js';

export interface ResolveModelOptions {
  /** Folder of operator-installed models (e.g. `<repo>/models`). */
  modelsDir: string;
  /** Where `require.resolve` starts looking for `sts-whisper-*` packages. @defaultValue process.cwd() */
  searchFrom?: string;
}

function isModelDir(dir: string): boolean {
  try {
    return statSync(dir).isDirectory() && existsSync(join(dir, 'config.json'));
  } catch {
    return false;
  }
}

/**
 * Resolves `nameOrDir` to an absolute model folder (one holding config.json).
 * A path (absolute, or relative to the working directory) is used as is;
 * a name such as 'tiny', 'base', 'whisper-small' is looked up in
 * `<modelsDir>/whisper-<name>`, `<modelsDir>/<name>`, then in the installed
 * package `sts-whisper-<name>` (`models/Xenova/whisper-<name>`).
 * @throws NotFoundError listing every place it looked.
 */
export function resolveModelDir(nameOrDir: string, options: ResolveModelOptions): string {
  const looked: string[] = [];
  const trimmed = nameOrDir.trim();
  const pathLike = isAbsolute(trimmed) || trimmed.startsWith('.') || trimmed.includes('/') || trimmed.includes('\\');
  if (pathLike) {
    const dir = resolve(trimmed);
    if (isModelDir(dir)) return dir;
    throw new NotFoundError(`model folder not found (no config.json): ${dir}`, { details: { looked: [dir] } });
  }
  const short = trimmed.replace(/^whisper-/, '');
  const candidates = [join(options.modelsDir, `whisper-${short}`), join(options.modelsDir, trimmed)];
  for (const dir of new Set(candidates.map((c) => resolve(c)))) {
    looked.push(dir);
    if (isModelDir(dir)) return dir;
  }
  const pkg = `sts-whisper-${short}`;
  const require = createRequire(join(resolve(options.searchFrom ?? process.cwd()), 'noop.js'));
  try {
    const dir = join(dirname(require.resolve(`${pkg}/package.json`)), 'models', 'Xenova', `whisper-${short}`);
    looked.push(dir);
    if (isModelDir(dir)) return dir;
  } catch {
    looked.push(`npm package ${pkg} (not installed)`);
  }
  throw new NotFoundError(`model "${nameOrDir}" not found; looked in: ${looked.join(', ')}`, { details: { looked } });
}

/** The model sizes published as `sts-whisper-<size>` npm packages. */
export const PACKAGED_MODELS: readonly string[] = ['tiny', 'base', 'small'];

export interface ListModelsOptions {
  /** Also list installed `sts-whisper-*` packages (found from `searchFrom`). @defaultValue false */
  includePackages?: boolean;
  /** @defaultValue process.cwd() */
  searchFrom?: string;
}

/**
 * Model folders directly under `modelsDir` (those holding config.json), by
 * folder name, then (optionally) the installed `sts-whisper-*` packages.
 */
export function listAvailableModels(modelsDir: string, options: ListModelsOptions = {}): { name: string; dir: string }[] {
  let entries: string[] = [];
  try {
    entries = readdirSync(modelsDir);
  } catch {
    entries = [];
  }
  const found = entries
    .map((name) => ({ name, dir: resolve(modelsDir, name) }))
    .filter(({ dir }) => isModelDir(dir))
    .sort((a, b) => a.name.localeCompare(b.name));
  if (options.includePackages) {
    const require = createRequire(join(resolve(options.searchFrom ?? process.cwd()), 'noop.js'));
    for (const size of PACKAGED_MODELS) {
      try {
        const dir = join(dirname(require.resolve(`sts-whisper-${size}/package.json`)), 'models', 'Xenova', `whisper-${size}`);
        if (isModelDir(dir) && !found.some((m) => m.name === `whisper-${size}`)) found.push({ name: `whisper-${size}`, dir });
      } catch {
        // not installed
      }
    }
  }
  return found;
}
