import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/** Extends the lease only while it still holds this holder's token. */
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;

/** Deletes the lease only while it still holds this holder's token. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * A lease in Redis that one holder at a time has: `SET key token NX PX ttl`
 * takes it, and renewing or releasing it checks the token first (a small Lua
 * script), so a holder that lost it (it stalled past the TTL and another took
 * over) cannot extend or delete the new holder's. A holder that dies without
 * releasing frees it when the TTL runs out. Errors (Redis away) are thrown.
 */
export class RedisLease {
  /** This holder's token (random unless given). */
  readonly token: string;
  private held = false;

  constructor(
    private readonly redis: Redis,
    readonly key: string,
    /** How long the lease lasts after each take or renewal, ms. */
    readonly ttlMs: number,
    token: string = randomUUID(),
  ) {
    this.token = token;
  }

  /** True while this holder believes it has the lease (it had it at its last `hold`). */
  isHeld(): boolean {
    return this.held;
  }

  /** Renews the lease if this holder has it, takes it if it is free; false when another holder has it. */
  async hold(): Promise<boolean> {
    if (this.held && (await this.redis.eval(RENEW, 1, this.key, this.token, this.ttlMs)) === 1) return true;
    this.held = (await this.redis.set(this.key, this.token, 'PX', this.ttlMs, 'NX')) === 'OK';
    return this.held;
  }

  /** Gives the lease up if this holder still has it; true when it did. */
  async release(): Promise<boolean> {
    if (!this.held) return false;
    this.held = false;
    return (await this.redis.eval(RELEASE, 1, this.key, this.token)) === 1;
  }
}
