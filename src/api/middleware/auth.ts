import type { MiddlewareHandler } from 'hono';
import { ForbiddenError, UnauthorizedError } from '../../core/errors.js';
import type { KeyResolution } from '../../core/keys/api-key-resolver.js';
import type { AppEnv } from '../env.js';

/** What apiKeyAuth needs: ApiKeyResolver (API_KEYS, then the stored keys). */
export interface KeyResolver {
  resolve(presented: string): Promise<KeyResolution>;
}

/**
 * Bearer API keys. Sets `apiKeyId` (the key's public id, which names it in
 * rate limits, logs and `GET /api/admin/keys`) and `apiKeyProjectId` (the
 * one project a project key reaches; null for admin keys). Unknown and
 * revoked keys get 401; a MongoDB outage during a lookup, 503.
 */
export function apiKeyAuth(resolver: KeyResolver): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header('Authorization');
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) throw new UnauthorizedError('missing API key: send "Authorization: Bearer <key>"');
    const resolved = await resolver.resolve(match[1]);
    if (!resolved.ok) throw new UnauthorizedError(resolved.reason === 'revoked' ? 'this API key was revoked' : 'invalid API key');
    c.set('apiKeyId', resolved.principal.keyId);
    c.set('apiKeyProjectId', resolved.principal.projectId);
    await next();
  };
}

/** After apiKeyAuth: only admin keys (API_KEYS, or stored keys without a project) pass; 403 FORBIDDEN otherwise. */
export function adminOnly(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.get('apiKeyProjectId') !== null) throw new ForbiddenError('this route needs an admin key; a project key reaches only /api/projects/<its project>/..., /api/jobs of its project and /v1');
    await next();
  };
}

/**
 * After apiKeyAuth, on `/api/projects/:projectId/...`: a project key passes
 * only for its own project. Any other project answers 403 whether or not it
 * (or the meeting asked for) exists, so the answer tells nothing about it.
 */
export function projectScope(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const own = c.get('apiKeyProjectId');
    if (own !== null && c.req.param('projectId') !== own) throw new ForbiddenError(`this API key reaches only project ${own}`);
    await next();
  };
}
