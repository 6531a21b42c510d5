import { mkdir, stat, statfs } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { ValidationError } from '../../core/errors.js';
import { type ModelSource, type ModelVariant, type RepoFile, resolveModel, selectFiles } from './catalog.js';
import { type DownloadOutcome, downloadVerified } from './download.js';
import { type HubOptions, listRepoFiles, resolveUrl } from './hf-api.js';
import { type ProgressSink, formatBytes } from './progress.js';

export interface FetchModelOptions {
  /** Model name, e.g. `base` or `large-v3-turbo`; ignored when `repo` is given. */
  model?: string;
  /** Explicit `owner/name` repository instead of the catalogue's. */
  repo?: string;
  /** Weight precision. @defaultValue 'q8' */
  variant?: ModelVariant;
  /** Folder that receives `whisper-<name>/`. @defaultValue 'models' */
  dest?: string;
  /** Hub root URL. @defaultValue 'https://huggingface.co' */
  baseUrl?: string;
  /** Branch, tag or commit to fetch. @defaultValue 'main' */
  revision?: string;
  /** Bearer token for gated repositories. */
  token?: string;
  progress: ProgressSink;
  /** Tries per file after a broken transfer. @defaultValue 5 */
  retries?: number;
  /** First pause between tries in milliseconds, doubled each time. @defaultValue 1000 */
  retryDelayMs?: number;
  /** Abort a transfer idle for this many milliseconds. @defaultValue 60000 */
  idleTimeoutMs?: number;
  /** Timeout of the listing request in milliseconds. @defaultValue 30000 */
  timeoutMs?: number;
}

export interface FetchModelResult {
  source: ModelSource;
  variant: ModelVariant;
  /** Absolute path of the model folder, ready for MODEL / MODELS_DIR. */
  folder: string;
  files: Array<{ path: string; size: number; outcome: DownloadOutcome }>;
  /** Sum of the selected files' sizes in bytes. */
  totalBytes: number;
}

/**
 * Fetches one Whisper export from a Hugging Face hub into
 * `<dest>/whisper-<name>/` in the transformers.js layout: lists the
 * repository, picks the variant's files, checks free disk space, then
 * downloads each file resumably and verified (see downloadVerified).
 */
export async function fetchModel(options: FetchModelOptions): Promise<FetchModelResult> {
  const source = resolveModel(options.model, options.repo);
  const variant = options.variant ?? 'q8';
  const revision = options.revision ?? 'main';
  const hub: HubOptions = { baseUrl: options.baseUrl ?? 'https://huggingface.co', token: options.token, timeoutMs: options.timeoutMs };
  const folder = resolve(options.dest ?? 'models', source.folder);
  const { progress } = options;

  progress.message(`listing ${source.repo}@${revision} on ${hub.baseUrl}`);
  const files = selectFiles(await listRepoFiles(hub, source.repo, revision), variant);
  const totalBytes = files.reduce((sum, f) => sum + f.size, 0);
  const targets = files.map((file) => ({ file, dest: safeJoin(folder, file.path) }));
  progress.message(`${source.repo} ${variant}: ${files.length} files, ${formatBytes(totalBytes)} → ${folder}`);

  await mkdir(folder, { recursive: true });
  await ensureDiskSpace(folder, targets);

  const results: FetchModelResult['files'] = [];
  for (const { file, dest } of targets) {
    const outcome = await downloadVerified({
      hub,
      url: resolveUrl(hub.baseUrl, source.repo, revision, file.path),
      dest,
      file,
      progress,
      retries: options.retries,
      retryDelayMs: options.retryDelayMs,
      idleTimeoutMs: options.idleTimeoutMs,
    });
    results.push({ path: file.path, size: file.size, outcome });
  }
  return { source, variant, folder, files: results, totalBytes };
}

/** Joins a repository path under the model folder, refusing paths that would leave it. */
function safeJoin(folder: string, repoPath: string): string {
  const target = join(folder, ...repoPath.split('/'));
  const rel = relative(folder, target);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel) || repoPath.includes('\\')) {
    throw new ValidationError(`refusing repository path '${repoPath}': it would be written outside ${folder}`);
  }
  return target;
}

async function ensureDiskSpace(folder: string, targets: Array<{ file: RepoFile; dest: string }>): Promise<void> {
  let needed = 0;
  for (const { file, dest } of targets) {
    const have = (await sizeIfExists(dest)) === file.size ? file.size : ((await sizeIfExists(`${dest}.part`)) ?? 0);
    needed += Math.max(0, file.size - have);
  }
  const fs = await statfs(folder);
  const free = fs.bavail * fs.bsize;
  if (needed > free) {
    throw new ValidationError(`not enough disk space in ${folder}: the download needs ${formatBytes(needed)}, ${formatBytes(free)} free`);
  }
}

async function sizeIfExists(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}
