/** The API-key administration routes' part of the OpenAPI document (openapi.ts spreads it in). */
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const error = (description: string) => ({ description, content: { 'application/json': { schema: ref('Error') } } });
const json = (schema: unknown) => ({ 'application/json': { schema } });

const common = {
  401: error('UNAUTHORIZED: missing, invalid or revoked key.'),
  403: error('FORBIDDEN: a project key; these routes need an admin key.'),
  429: {
    ...error('RATE_LIMITED: this key is over its rate limit; nothing was done.'),
    headers: { 'Retry-After': { schema: { type: 'integer', minimum: 1 }, description: 'Whole seconds after which the request can succeed.' } },
  },
  503: error('UNAVAILABLE: MongoDB cannot be reached.'),
};
const keyIdParam = { name: 'keyId', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9a-f]{16}$' } };

export function keyPaths() {
  return {
    '/api/admin/keys': {
      post: {
        summary: 'Create an API key (admin keys only); the answer holds the key, shown this once',
        description:
          'A key with a `projectId` reaches only `/api/projects/<projectId>/...`, that project\'s jobs and `/v1` (its requests become meetings of ' +
          'that project); `projectId: null` makes an admin key. Only the key\'s SHA-256 is stored. It works in every API process at once.',
        requestBody: {
          required: true,
          content: json({
            type: 'object',
            additionalProperties: false,
            required: ['projectId', 'name'],
            properties: { projectId: { oneOf: [ref('Id'), { type: 'null' }] }, name: { type: 'string', minLength: 1, maxLength: 100 } },
          }),
        },
        responses: {
          201: { description: 'Created', content: json({ allOf: [ref('ApiKey'), { type: 'object', required: ['key'], properties: { key: { type: 'string', pattern: '^meno_[A-Za-z0-9_-]{43}$' } } }] }) },
          400: error('VALIDATION_FAILED'),
          413: error('PAYLOAD_TOO_LARGE'),
          415: error('UNSUPPORTED_MEDIA_TYPE: a body that is not JSON.'),
          ...common,
        },
      },
      get: {
        summary: 'List API keys without their secrets (admin keys only)',
        parameters: [
          { name: 'projectId', in: 'query', required: false, schema: ref('Id') },
          { name: 'includeRevoked', in: 'query', required: false, schema: { type: 'string', enum: ['true', 'false'] } },
        ],
        responses: { 200: { description: 'OK', content: json({ type: 'object', properties: { keys: { type: 'array', items: ref('ApiKey') } } }) }, 400: error('VALIDATION_FAILED'), ...common },
      },
    },
    '/api/admin/keys/{keyId}': {
      delete: {
        summary: 'Revoke an API key (admin keys only; idempotent)',
        description: 'Every API process refuses the key within API_KEY_CACHE_MS (5 s). Revoking again keeps the first `revokedAt`.',
        parameters: [keyIdParam],
        responses: { 200: { description: 'Revoked', content: json(ref('ApiKey')) }, 400: error('VALIDATION_FAILED'), 404: error('NOT_FOUND: no such key.'), ...common },
      },
    },
  };
}

export const keySchemas = {
  ApiKey: {
    type: 'object',
    required: ['keyId', 'prefix', 'name', 'projectId', 'createdAt', 'lastUsedAt', 'revokedAt'],
    properties: {
      keyId: { type: 'string', pattern: '^[0-9a-f]{16}$', description: 'The first 16 hex digits of the key\'s SHA-256; logs name keys by it (`apiKeyId`).' },
      prefix: { type: 'string', description: 'The key\'s first characters.' },
      name: { type: 'string' },
      projectId: { type: ['string', 'null'], description: 'null: an admin key.' },
      createdAt: { type: 'string', format: 'date-time' },
      lastUsedAt: { type: ['string', 'null'], format: 'date-time', description: 'Written at most once a minute per API process.' },
      revokedAt: { type: ['string', 'null'], format: 'date-time' },
    },
  },
};
