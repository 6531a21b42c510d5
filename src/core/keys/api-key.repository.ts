/**
 * API keys kept in MongoDB (`api_keys`), beside the admin keys of API_KEYS.
 * A key is `meno_` and 32 random bytes in base64url; only its SHA-256 is
 * stored (a random 256-bit secret needs no slow hash: nobody can guess it
 * from its digest), so the plaintext exists once, in the answer that creates it.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Collection, Db } from 'mongodb';
import { NotFoundError } from '../errors.js';
import { isDuplicateKey } from '../meetings/meeting.repository.js';

/** `meno_` then 43 base64url characters (32 bytes). */
export const API_KEY_PATTERN = /^meno_[A-Za-z0-9_-]{43}$/;

/** The public name of a key in lists, logs, rate limits and revocation: 16 hex digits of its SHA-256. */
export const KEY_ID_PATTERN = /^[0-9a-f]{16}$/;

export interface ApiKeyDocument {
  /** SHA-256 of the key, hex. */
  _id: string;
  /** The first 16 hex digits of `_id` (see keyIdOf). */
  keyId: string;
  /** The key's first characters, so that an operator can tell which key a client holds. */
  prefix: string;
  name: string;
  /** The one project the key reaches; null for an admin key (every project, and the admin routes). */
  projectId: string | null;
  createdAt: Date;
  /** Updated at most once a minute per key and API process. */
  lastUsedAt?: Date;
  revokedAt?: Date;
}

export interface NewApiKey {
  name: string;
  projectId: string | null;
}

/** What a caller's key resolves to; `source: 'env'` for the keys of API_KEYS. */
export interface ApiKeyPrincipal {
  keyId: string;
  projectId: string | null;
  source: 'env' | 'db';
}

/** How long a key's last use is not written again (per process). */
export const LAST_USED_WRITE_EVERY_MS = 60_000;

/** Characters of a key kept for display: `meno_` and 6 more. */
const PREFIX_CHARS = 11;

export function digestHex(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** The key id of a key (any key, API_KEYS too): the first 8 bytes of its SHA-256, in hex. */
export function keyIdOf(key: string): string {
  return digestHex(key).slice(0, 16);
}

export function newApiKeySecret(): string {
  return `meno_${randomBytes(32).toString('base64url')}`;
}

/** All reads and writes of `api_keys`. */
export class ApiKeyRepository {
  private readonly keys: Collection<ApiKeyDocument>;

  constructor(db: Db, private readonly now: () => Date = () => new Date()) {
    this.keys = db.collection<ApiKeyDocument>('api_keys');
  }

  async ensureIndexes(): Promise<void> {
    await this.keys.createIndex({ keyId: 1 }, { name: 'key_id', unique: true });
  }

  /** Creates a key and returns it with its plaintext, which is not stored anywhere. */
  async create(input: NewApiKey): Promise<{ key: string; document: ApiKeyDocument }> {
    // A clash of 64-bit key ids is not expected in practice; a new secret settles one.
    for (let attempt = 0; ; attempt++) {
      const key = newApiKeySecret();
      const digest = digestHex(key);
      const document: ApiKeyDocument = {
        _id: digest,
        keyId: digest.slice(0, 16),
        prefix: key.slice(0, PREFIX_CHARS),
        name: input.name,
        projectId: input.projectId,
        createdAt: this.now(),
      };
      try {
        await this.keys.insertOne(document);
        return { key, document };
      } catch (err) {
        if (!isDuplicateKey(err) || attempt >= 3) throw err;
      }
    }
  }

  /** The key with this SHA-256 (revoked or not), or null. */
  async findByDigest(digest: string): Promise<ApiKeyDocument | null> {
    return this.keys.findOne({ _id: digest });
  }

  /** Keys, oldest first; of one project with `projectId` (null: the admin keys). */
  async list(filter: { projectId?: string | null; includeRevoked?: boolean } = {}): Promise<ApiKeyDocument[]> {
    const query: Record<string, unknown> = {};
    if (filter.projectId !== undefined) query.projectId = filter.projectId;
    if (!filter.includeRevoked) query.revokedAt = { $exists: false };
    return this.keys.find(query).sort({ createdAt: 1, _id: 1 }).toArray();
  }

  /** Marks the key revoked (once: a second revoke keeps the first time); NotFoundError for an unknown id. */
  async revoke(keyId: string): Promise<ApiKeyDocument> {
    await this.keys.updateOne({ keyId, revokedAt: { $exists: false } }, { $set: { revokedAt: this.now() } });
    const doc = await this.keys.findOne({ keyId });
    if (!doc) throw new NotFoundError(`API key ${keyId} not found`);
    return doc;
  }

  /** Records a use; only on live keys, so a revoked key's record stays as it was. */
  async touch(digest: string, at: Date): Promise<void> {
    await this.keys.updateOne({ _id: digest, revokedAt: { $exists: false } }, { $set: { lastUsedAt: at } });
  }
}
