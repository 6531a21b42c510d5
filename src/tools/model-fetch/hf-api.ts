import { AppError, NotFoundError } from '../../core/errors.js';
import type { RepoFile } from './catalog.js';
import { offlineError, unreachableReason } from './network-errors.js';

/**
 * One entry of `GET {base}/api/models/{repo}/tree/{revision}?recursive=true`.
 * Directories carry `type: 'directory'`; LFS files carry `lfs.oid`, the
 * SHA-256 of the content; `oid` is the git blob id either way.
 */
interface TreeEntry {
  type: 'file' | 'directory' | string;
  path: string;
  size?: number;
  oid?: string;
  lfs?: { oid?: string; size?: number };
}

export interface HubOptions {
  /** Hub root URL. @defaultValue 'https://huggingface.co' */
  baseUrl: string;
  /** Bearer token for gated or private repositories (HF_TOKEN). */
  token?: string;
  /** Milliseconds to wait for response headers. @defaultValue 30000 */
  timeoutMs?: number;
}

/** The hub answered with an unexpected status or body. */
export class HubError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UNAVAILABLE', 502, message, options);
  }
}

/** Joins the hub root and a path, keeping any path prefix of the root (mirrors often have one). */
export function hubUrl(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

/** The download URL of one file: `{base}/{repo}/resolve/{revision}/{path}`. */
export function resolveUrl(baseUrl: string, repo: string, revision: string, path: string): string {
  const encodedPath = path.split('/').map(encodeURIComponent).join('/');
  return hubUrl(baseUrl, `${repo}/resolve/${encodeURIComponent(revision)}/${encodedPath}`);
}

/**
 * Lists every file of a repository revision with sizes and hashes through the
 * tree API, following `Link: <…>; rel="next"` pages. Throws NotFoundError
 * for an unknown repository or revision and UnavailableError when the hub
 * cannot be reached.
 */
export async function listRepoFiles(options: HubOptions, repo: string, revision = 'main'): Promise<RepoFile[]> {
  const files: RepoFile[] = [];
  let url: string | undefined = hubUrl(options.baseUrl, `api/models/${repo}/tree/${encodeURIComponent(revision)}?recursive=true`);
  while (url) {
    const response = await hubFetch(options, url);
    if (response.status === 404 || response.status === 401) {
      throw new NotFoundError(`repository ${repo} (revision ${revision}) not found on ${new URL(url).host} (HTTP ${response.status}); gated repositories need HF_TOKEN`);
    }
    if (!response.ok) throw new HubError(`listing ${repo} failed: HTTP ${response.status} from ${url}`);
    let entries: unknown;
    try {
      entries = await response.json();
    } catch (err) {
      throw new HubError(`listing ${repo} returned a body that is not JSON`, { cause: err });
    }
    if (!Array.isArray(entries)) throw new HubError(`listing ${repo} returned ${typeof entries}, expected an array of tree entries`);
    for (const entry of entries as TreeEntry[]) {
      if (entry.type !== 'file') continue;
      const size = entry.lfs?.size ?? entry.size;
      if (typeof entry.path !== 'string' || typeof size !== 'number') {
        throw new HubError(`listing ${repo} has an entry without path or size: ${JSON.stringify(entry)}`);
      }
      files.push({ path: entry.path, size, sha256: entry.lfs?.oid, gitOid: entry.lfs ? undefined : entry.oid });
    }
    url = nextPage(response.headers.get('link'), url);
  }
  return files;
}

/**
 * GET with auth; maps connect failures to the offline message. Without a
 * `signal` the whole request (body included) is bounded by `timeoutMs`; a
 * download passes its own signal, fed by an inactivity timer.
 */
export async function hubFetch(
  options: HubOptions,
  url: string,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<Response> {
  const allHeaders: Record<string, string> = { ...headers };
  if (options.token) allHeaders.authorization = `Bearer ${options.token}`;
  try {
    return await fetch(url, { headers: allHeaders, signal: signal ?? AbortSignal.timeout(options.timeoutMs ?? 30_000), redirect: 'follow' });
  } catch (err) {
    const reason = unreachableReason(err);
    if (reason) throw offlineError(url, reason, err);
    throw new HubError(`request to ${url} failed: ${(err as Error).message}`, { cause: err });
  }
}

function nextPage(link: string | null, current: string): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(',')) {
    const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(part);
    if (match) return new URL(match[1], current).toString();
  }
  return undefined;
}
