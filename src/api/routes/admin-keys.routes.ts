import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { z } from 'zod';
import { UnsupportedMediaTypeError } from '../../core/errors.js';
import { type ApiKeyDocument, KEY_ID_PATTERN } from '../../core/keys/api-key.repository.js';
import type { AppDeps } from '../app.js';
import type { AppEnv } from '../env.js';
import { isJsonMediaType, readJsonBody } from '../middleware/json-body.js';
import { idSchema, parseOrThrow, validationHook } from '../validation.js';

/** A label for people: printable, no control characters. */
export const keyNameSchema = z
  .string()
  .trim()
  .min(1, 'expected a name such as "ci"')
  .max(100, 'expected at most 100 characters')
  .regex(/^[^\p{Cc}]*$/u, 'expected no control characters');

const createBody = z.strictObject({
  // Required, so that an admin key is never made by leaving a field out.
  projectId: idSchema.nullable(),
  name: keyNameSchema,
});

const listQuery = z.strictObject({
  projectId: idSchema.optional(),
  includeRevoked: z.enum(['true', 'false']).optional(),
});

const keyParams = z.object({ keyId: z.string().regex(KEY_ID_PATTERN, 'expected a key id of 16 hex digits') });

type AdminKeysDeps = Pick<AppDeps, 'config' | 'apiKeys'>;

/**
 * `/api/admin/keys` (admin keys only): create a key (its plaintext is in
 * the 201 answer and nowhere else), list keys without secrets, revoke one.
 * Changes reach every API process within API_KEY_CACHE_MS.
 */
export function adminKeysRoutes(deps: AdminKeysDeps) {
  return new Hono<AppEnv>()
    .post('/', async (c) => {
      if (!isJsonMediaType(c.req.header('Content-Type'))) throw new UnsupportedMediaTypeError('the body must be application/json');
      const body = parseOrThrow(createBody, await readJsonBody(c.req.raw, deps.config.http.maxJsonBytes), 'json');
      const { key, document } = await deps.apiKeys.create(body);
      c.get('logger').info({ keyId: document.keyId, projectId: document.projectId, name: document.name, by: c.get('apiKeyId') }, 'api key created');
      c.header('Location', `/api/admin/keys/${document.keyId}`);
      return c.json({ ...keyBody(document), key }, 201);
    })
    .get('/', zValidator('query', listQuery, validationHook), async (c) => {
      const { projectId, includeRevoked } = c.req.valid('query');
      const keys = await deps.apiKeys.list({ projectId, includeRevoked: includeRevoked === 'true' });
      return c.json({ keys: keys.map(keyBody) }, 200);
    })
    .delete('/:keyId', zValidator('param', keyParams, validationHook), async (c) => {
      const { keyId } = c.req.valid('param');
      const revoked = await deps.apiKeys.revoke(keyId);
      c.get('logger').info({ keyId, projectId: revoked.projectId, by: c.get('apiKeyId') }, 'api key revoked');
      return c.json(keyBody(revoked), 200);
    });
}

/** A key as lists show it: never its digest, never its secret. */
export function keyBody(k: ApiKeyDocument) {
  return {
    keyId: k.keyId,
    prefix: k.prefix,
    name: k.name,
    projectId: k.projectId,
    createdAt: k.createdAt.toISOString(),
    lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
    revokedAt: k.revokedAt?.toISOString() ?? null,
  };
}
