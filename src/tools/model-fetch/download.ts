import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { AppError, NotFoundError, UnavailableError, coerceError } from '../../core/errors.js';
import type { RepoFile } from './catalog.js';
import { type HubOptions, HubError, hubFetch } from './hf-api.js';
import { offlineError, unreachableReason } from './network-errors.js';
import type { ProgressSink } from './progress.js';

/** A downloaded file's size or hash differs from what the hub listed. Its `.part` is removed. */
export class IntegrityError extends AppError {
  constructor(message: string) {
    super('INTERNAL', 502, message);
  }
}

export interface DownloadOptions {
  hub: HubOptions;
  /** The file's `resolve` URL. */
  url: string;
  /** Final path; bytes go to `${dest}.part` until verified. */
  dest: string;
  /** Expected size and hashes, from the tree listing. */
  file: RepoFile;
  progress: ProgressSink;
  /** Further tries after a transfer breaks, each resuming from the `.part`. @defaultValue 5 */
  retries?: number;
  /** First pause between tries in milliseconds, doubled each time. @defaultValue 1000 */
  retryDelayMs?: number;
  /** Abort a transfer that receives nothing for this many milliseconds. @defaultValue 60000 */
  idleTimeoutMs?: number;
}

/** What downloadVerified did: fetched from scratch, continued a `.part`, or found the file already in place. */
export type DownloadOutcome = 'downloaded' | 'resumed' | 'present';

/**
 * Downloads one file into `dest` atomically: bytes land in `dest.part`, an
 * existing `.part` is continued with an HTTP Range request (also after a
 * transfer breaks midway), and only a `.part` whose size and hash match the
 * listing is renamed into place. A mismatch removes the `.part` and throws
 * IntegrityError; an unreachable host throws UnavailableError.
 */
export async function downloadVerified(options: DownloadOptions): Promise<DownloadOutcome> {
  const { file, dest, progress } = options;
  const part = `${dest}.part`;
  const retries = options.retries ?? 5;
  const retryDelayMs = options.retryDelayMs ?? 1000;

  if ((await sizeOf(dest)) === file.size && (await verifyHash(dest, file)) === undefined) {
    progress.finish(file.path, 'already present, verified');
    return 'present';
  }
  await mkdir(dirname(dest), { recursive: true });

  const initialPart = await sizeOf(part);
  let resumed = initialPart !== undefined && initialPart > 0 && initialPart <= file.size;
  for (let attempt = 0; ; attempt += 1) {
    try {
      await transferOnce(options, part);
      break;
    } catch (err) {
      if (!isRetryable(err) || attempt >= retries) throw finalError(err, options.url);
      progress.message(`${file.path}: transfer interrupted (${coerceError(err).message}); retrying from the partial file`);
      resumed = true;
      await delay(retryDelayMs * 2 ** attempt);
    }
  }

  const size = await sizeOf(part);
  const problem = size !== file.size ? `size ${size} bytes, expected ${file.size}` : await verifyHash(part, file);
  if (problem !== undefined) {
    await unlink(part).catch(() => undefined);
    progress.finish(file.path, `REJECTED: ${problem}`);
    throw new IntegrityError(`${file.path} failed verification (${problem}); the partial file was removed, run the command again to retry`);
  }
  await rename(part, dest);
  progress.finish(file.path, `ok (${resumed ? 'resumed, ' : ''}verified ${file.sha256 ? 'sha256' : file.gitOid ? 'git blob id' : 'size'})`);
  return resumed ? 'resumed' : 'downloaded';
}

/** One HTTP request that appends to the `.part` from where it ends. */
async function transferOnce(options: DownloadOptions, part: string): Promise<void> {
  const { file, progress } = options;
  let offset = (await sizeOf(part)) ?? 0;
  if (offset > file.size) {
    await unlink(part);
    offset = 0;
  }
  if (offset === file.size) return;

  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  const controller = new AbortController();
  let idle: NodeJS.Timeout | undefined;
  const armIdle = (): void => {
    clearTimeout(idle);
    idle = setTimeout(() => controller.abort(new DOMException(`no data for ${idleTimeoutMs} ms`, 'TimeoutError')), idleTimeoutMs);
  };
  armIdle();
  try {
    const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
    const response = await hubFetch(options.hub, options.url, headers, controller.signal);
    if (response.status === 416) {
      // The server holds fewer bytes than our .part: it is not a prefix of this file.
      await response.body?.cancel();
      await unlink(part);
      throw new TransientError(`server refused the range bytes=${offset}- (HTTP 416); restarting the file`);
    }
    if (response.status === 404) throw new NotFoundError(`${file.path} not found at ${options.url}`);
    if (response.status >= 500 || response.status === 429) throw new TransientError(`HTTP ${response.status} from ${options.url}`);
    if (response.status !== 200 && response.status !== 206) throw new HubError(`HTTP ${response.status} from ${options.url}`);
    if (response.status === 206) {
      const start = /^bytes (\d+)-/.exec(response.headers.get('content-range') ?? '')?.[1];
      if (Number(start) !== offset) {
        await response.body?.cancel();
        await unlink(part);
        throw new TransientError(`server answered range ${response.headers.get('content-range')} for bytes=${offset}-; restarting the file`);
      }
    } else {
      // 200 to a Range request: the server sends the whole file, so start over.
      offset = 0;
    }
    if (!response.body) throw new TransientError(`empty body from ${options.url}`);

    progress.start(file.path, file.size, offset);
    const handle = await open(part, offset > 0 ? 'a' : 'w');
    try {
      for await (const chunk of Readable.fromWeb(response.body as WebReadableStream<Uint8Array>)) {
        armIdle();
        const bytes = chunk as Uint8Array;
        await handle.write(bytes);
        progress.advance(bytes.byteLength);
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
  } finally {
    clearTimeout(idle);
  }
}

/** A failure worth another try from the partial file. */
class TransientError extends Error {}

function isRetryable(err: unknown): boolean {
  if (err instanceof TransientError) return true;
  if (err instanceof NotFoundError || err instanceof IntegrityError) return false;
  if (err instanceof UnavailableError) return true;
  // A HubError wrapping a broken socket is retryable; one about an HTTP status is not.
  if (err instanceof HubError) return err.cause !== undefined;
  // Errors thrown while reading the body: socket closed, reset, idle timeout.
  return !(err instanceof AppError);
}

function finalError(err: unknown, url: string): Error {
  if (err instanceof AppError) return err;
  const reason = unreachableReason(err);
  if (reason) return offlineError(url, reason, err);
  const error = coerceError(err);
  return new HubError(`download from ${url} failed: ${error.message}`, { cause: error });
}

/**
 * Checks the file against the listing's hash: SHA-256 (LFS files) or the git
 * blob id (small files). Returns a description of the mismatch, or undefined.
 */
export async function verifyHash(path: string, file: RepoFile): Promise<string | undefined> {
  if (file.sha256) {
    const actual = await hashFile(path, 'sha256');
    return actual === file.sha256.toLowerCase() ? undefined : `sha256 ${actual}, expected ${file.sha256}`;
  }
  if (file.gitOid) {
    const actual = await hashFile(path, 'sha1', `blob ${file.size}\0`);
    return actual === file.gitOid.toLowerCase() ? undefined : `git blob id ${actual}, expected ${file.gitOid}`;
  }
  return undefined;
}

async function hashFile(path: string, algorithm: 'sha256' | 'sha1', prefix = ''): Promise<string> {
  const hash = createHash(algorithm);
  if (prefix) hash.update(prefix);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function delay(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
