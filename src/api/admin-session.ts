/**
 * Browser sessions for operators. A browser cannot send a bearer header
 * when it navigates to /admin/queues (bull-board), so the admin page POSTs
 * the admin key once (as the bearer header) to `/admin/session`, which
 * answers with a random token in an HttpOnly, SameSite=Strict cookie scoped
 * to /admin. The token's SHA-256 is kept in Redis for ADMIN_SESSION_TTL_MS,
 * so any API process of the deployment accepts it and a sign-out ends it
 * everywhere.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Redis } from 'ioredis';
import { UnauthorizedError } from '../core/errors.js';
import type { AppEnv } from './env.js';

export const ADMIN_COOKIE = 'meno_admin';
/** How long a session lasts; the admin signs in again after. A revoked admin key's session ends at the latest then. */
export const ADMIN_SESSION_TTL_MS = 15 * 60_000;

export class AdminSessions {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs = ADMIN_SESSION_TTL_MS,
  ) {}

  private key(token: string): string {
    return `${this.prefix}:meno-admin-session:${createHash('sha256').update(token).digest('hex')}`;
  }

  /** A new session for the admin key `keyId`; returns the token for the cookie. */
  async open(keyId: string): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await this.redis.set(this.key(token), keyId, 'PX', this.ttlMs);
    return token;
  }

  /** The key id the session was opened with, or null when it is unknown or expired. */
  async check(token: string): Promise<string | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
    return this.redis.get(this.key(token));
  }

  async close(token: string): Promise<void> {
    if (/^[A-Za-z0-9_-]{43}$/.test(token)) await this.redis.del(this.key(token));
  }

  setCookie(c: Context<AppEnv>, token: string): void {
    setCookie(c, ADMIN_COOKIE, token, {
      path: '/admin',
      httpOnly: true,
      sameSite: 'Strict',
      secure: isHttps(c),
      maxAge: Math.floor(this.ttlMs / 1000),
    });
  }

  clearCookie(c: Context<AppEnv>): void {
    deleteCookie(c, ADMIN_COOKIE, { path: '/admin', secure: isHttps(c) });
  }
}

/** HTTPS as the browser sees it: directly, or through a proxy that says so. */
function isHttps(c: Context<AppEnv>): boolean {
  return new URL(c.req.url).protocol === 'https:' || c.req.header('X-Forwarded-Proto') === 'https';
}

/**
 * For pages under /admin: a valid session cookie passes (and sets
 * `apiKeyId`, as apiKeyAuth would); a browser without one is sent to the
 * sign-in page, anything else gets 401.
 */
export function adminSession(sessions: AdminSessions): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = getCookie(c, ADMIN_COOKIE);
    const keyId = token ? await sessions.check(token) : null;
    if (!keyId) {
      if (c.req.method === 'GET' && (c.req.header('Accept') ?? '').includes('text/html')) return c.redirect('/admin', 303);
      throw new UnauthorizedError('no admin session: sign in at /admin with an admin key');
    }
    c.set('apiKeyId', keyId);
    c.set('apiKeyProjectId', null);
    await next();
  };
}
