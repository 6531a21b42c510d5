/**
 * Turns a presented bearer key into who is calling. The admin keys of
 * API_KEYS are compared in memory, in constant time and all of them every
 * time; any other key in the `meno_` format is looked up in MongoDB through a
 * short in-process cache, so a key revoked through any API process (or the
 * CLI) is refused by every process within the cache's lifetime.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../logger.js';
import { API_KEY_PATTERN, type ApiKeyPrincipal, type ApiKeyRepository, LAST_USED_WRITE_EVERY_MS } from './api-key.repository.js';

export type KeyResolution = { ok: true; principal: ApiKeyPrincipal } | { ok: false; reason: 'unknown' | 'revoked' };

export interface ApiKeyResolverOptions {
  /** API_KEYS: admin keys that reach everything. */
  envKeys: readonly string[];
  /** Stored keys; without it only API_KEYS are accepted. */
  repository?: ApiKeyRepository;
  /** How long a lookup (found, revoked or unknown) is reused (API_KEY_CACHE_MS); 0 looks up every request. */
  cacheTtlMs: number;
  logger: Logger;
  /** Milliseconds on a monotonic clock. @defaultValue `performance.now` */
  now?: () => number;
}

interface CacheEntry {
  expiresAt: number;
  resolution: Promise<KeyResolution>;
}

/** Lookups kept at most; past it the cache starts over (a flood of made-up keys cannot grow it without bound). */
const MAX_CACHED = 10_000;

export class ApiKeyResolver {
  private readonly envDigests: Buffer[];
  private readonly cache = new Map<string, CacheEntry>();
  /** When this process last wrote each key's lastUsedAt (monotonic ms), by digest. */
  private readonly lastWritten = new Map<string, number>();
  private readonly now: () => number;
  private readonly log: Logger;

  constructor(private readonly options: ApiKeyResolverOptions) {
    this.envDigests = options.envKeys.map((k) => createHash('sha256').update(k, 'utf8').digest());
    this.now = options.now ?? (() => performance.now());
    this.log = options.logger.child({ module: 'api-keys' });
  }

  async resolve(presented: string): Promise<KeyResolution> {
    const digest = createHash('sha256').update(presented, 'utf8').digest();
    let env = false;
    for (const d of this.envDigests) env = timingSafeEqual(d, digest) || env;
    const hex = digest.toString('hex');
    if (env) return { ok: true, principal: { keyId: hex.slice(0, 16), projectId: null, source: 'env' } };
    // Anything else that is not in our format cannot be a stored key: no database round trip for it.
    const { repository } = this.options;
    if (!repository || !API_KEY_PATTERN.test(presented)) return { ok: false, reason: 'unknown' };
    const resolution = await this.lookup(repository, hex);
    if (resolution.ok) this.recordUse(repository, hex);
    return resolution;
  }

  /** Forgets every cached lookup (this process only). */
  clear(): void {
    this.cache.clear();
  }

  private lookup(repository: ApiKeyRepository, digest: string): Promise<KeyResolution> {
    const now = this.now();
    const cached = this.cache.get(digest);
    if (cached && cached.expiresAt > now) return cached.resolution;
    const resolution = repository.findByDigest(digest).then((doc): KeyResolution => {
      if (!doc) return { ok: false, reason: 'unknown' };
      if (doc.revokedAt) return { ok: false, reason: 'revoked' };
      return { ok: true, principal: { keyId: doc.keyId, projectId: doc.projectId, source: 'db' } };
    });
    if (this.options.cacheTtlMs > 0) {
      if (this.cache.size >= MAX_CACHED) this.cache.clear();
      this.cache.set(digest, { expiresAt: now + this.options.cacheTtlMs, resolution });
      // A failed lookup (MongoDB down) is not kept: the next request asks again.
      resolution.catch(() => {
        if (this.cache.get(digest)?.resolution === resolution) this.cache.delete(digest);
      });
    }
    return resolution;
  }

  /** Writes lastUsedAt at most once per LAST_USED_WRITE_EVERY_MS per key, without holding up the request. */
  private recordUse(repository: ApiKeyRepository, digest: string): void {
    const now = this.now();
    const last = this.lastWritten.get(digest);
    if (last !== undefined && now - last < LAST_USED_WRITE_EVERY_MS) return;
    if (this.lastWritten.size >= MAX_CACHED) this.lastWritten.clear();
    this.lastWritten.set(digest, now);
    repository.touch(digest, new Date()).catch((err: unknown) => {
      this.log.warn({ err, keyId: digest.slice(0, 16) }, 'could not record the key\'s last use');
    });
  }
}
