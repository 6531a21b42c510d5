/** The webhook routes' part of the OpenAPI document (openapi.ts spreads it in). */
import { MEETING_EVENT_TYPES } from '../core/meetings/meeting-events.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const error = (description: string) => ({ description, content: { 'application/json': { schema: ref('Error') } } });
const json = (schema: unknown) => ({ 'application/json': { schema } });

const common = {
  400: error('VALIDATION_FAILED'),
  401: error('UNAUTHORIZED'),
  404: error('NOT_FOUND: no such endpoint (or delivery) in this project.'),
  429: {
    ...error('RATE_LIMITED: over this key\'s request rate; nothing was done.'),
    headers: { 'Retry-After': { schema: { type: 'integer', minimum: 1 }, description: 'Whole seconds after which the request can succeed.' } },
  },
};
const projectParam = { name: 'projectId', in: 'path', required: true, schema: ref('Id') };
const endpointParam = {
  name: 'endpointId',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^(whep_[0-9a-f]{24}|callback)$' },
  description: '`callback` names the deliveries to start requests\' `callbackUrl`s.',
};
const deliveryParam = { name: 'deliveryId', in: 'path', required: true, schema: { type: 'string', pattern: '^dlv_[0-9a-f]{24}$' } };
const urlSchema = {
  type: 'string',
  maxLength: 2048,
  description:
    'http(s) URL without user or password. Loopback, link-local (cloud metadata), unspecified and multicast addresses are refused ' +
    'unless WEBHOOK_ALLOWED_NETWORKS allows them; names are resolved and checked at every delivery.',
};
const eventsSchema = { type: 'array', minItems: 1, items: { type: 'string', enum: [...MEETING_EVENT_TYPES] } };
const jsonBodyErrors = { 413: error('PAYLOAD_TOO_LARGE'), 415: error('UNSUPPORTED_MEDIA_TYPE: a body that is not JSON.') };

export function webhookPaths() {
  return {
    '/api/projects/{projectId}/webhooks': {
      post: {
        summary: 'Register a webhook endpoint; the answer holds its signing secret, shown this once',
        parameters: [projectParam],
        requestBody: {
          required: true,
          content: json({
            type: 'object',
            additionalProperties: false,
            required: ['url', 'events'],
            properties: { url: urlSchema, events: eventsSchema, enabled: { type: 'boolean', default: true }, description: { type: 'string', maxLength: 200 } },
          }),
        },
        responses: {
          201: { description: 'Created', content: json({ allOf: [ref('WebhookEndpoint'), { type: 'object', properties: { secret: { type: 'string', pattern: '^whsec_' } } }] }) },
          ...common,
          409: error('CONFLICT: the project has 20 endpoints already.'),
          ...jsonBodyErrors,
        },
      },
      get: {
        summary: "The project's webhook endpoints (without secrets)",
        parameters: [projectParam],
        responses: { 200: { description: 'OK', content: json({ type: 'object', properties: { endpoints: { type: 'array', items: ref('WebhookEndpoint') } } }) }, ...common },
      },
    },
    '/api/projects/{projectId}/webhooks/callback-secret': {
      get: {
        summary: 'The secret that signs deliveries to start requests\' callbackUrl (made on first use)',
        parameters: [projectParam],
        responses: { 200: { description: 'OK', content: json({ type: 'object', properties: { projectId: { type: 'string' }, secret: { type: 'string' } } }) }, ...common },
      },
    },
    '/api/projects/{projectId}/webhooks/{endpointId}': {
      get: { summary: 'One endpoint', parameters: [projectParam, endpointParam], responses: { 200: { description: 'OK', content: json(ref('WebhookEndpoint')) }, ...common } },
      patch: {
        summary: 'Change url, events, enabled or description',
        parameters: [projectParam, endpointParam],
        requestBody: {
          required: true,
          content: json({ type: 'object', additionalProperties: false, minProperties: 1, properties: { url: urlSchema, events: eventsSchema, enabled: { type: 'boolean' }, description: { type: 'string' } } }),
        },
        responses: { 200: { description: 'OK', content: json(ref('WebhookEndpoint')) }, ...common, ...jsonBodyErrors },
      },
      delete: { summary: 'Delete an endpoint; its pending deliveries end as failed', parameters: [projectParam, endpointParam], responses: { 204: { description: 'Deleted' }, ...common } },
    },
    '/api/projects/{projectId}/webhooks/{endpointId}/rotate-secret': {
      post: {
        summary: 'A new signing secret, shown this once; the old one keeps signing beside it for 24 h (webhook-signature then lists both)',
        parameters: [projectParam, endpointParam],
        responses: {
          200: {
            description: 'OK',
            content: json({
              allOf: [ref('WebhookEndpoint'), { type: 'object', properties: { secret: { type: 'string' }, previousSecretValidUntil: { type: 'string', format: 'date-time' } } }],
            }),
          },
          ...common,
        },
      },
    },
    '/api/projects/{projectId}/webhooks/{endpointId}/deliveries': {
      get: {
        summary: 'Delivery log, newest first: each delivery with its attempts (status code or error, duration, time)',
        parameters: [projectParam, endpointParam, { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } }],
        responses: { 200: { description: 'OK', content: json({ type: 'object', properties: { deliveries: { type: 'array', items: ref('WebhookDelivery') } } }) }, ...common },
      },
    },
    '/api/projects/{projectId}/webhooks/{endpointId}/deliveries/{deliveryId}/redeliver': {
      post: {
        summary: 'Send the delivery\'s event again (same webhook-id and body), on a fresh retry schedule',
        parameters: [projectParam, endpointParam, deliveryParam],
        responses: { 202: { description: 'Accepted', content: json(ref('WebhookDelivery')) }, ...common },
      },
    },
  };
}

export const webhookSchemas = {
  WebhookEndpoint: {
    type: 'object',
    properties: {
      endpointId: { type: 'string' },
      projectId: { type: 'string' },
      url: { type: 'string' },
      events: eventsSchema,
      enabled: { type: 'boolean' },
      description: { type: ['string', 'null'] },
      createdAt: { type: 'string', format: 'date-time' },
      updatedAt: { type: 'string', format: 'date-time' },
    },
  },
  WebhookDelivery: {
    type: 'object',
    properties: {
      deliveryId: { type: 'string' },
      endpointId: { type: 'string' },
      eventId: { type: 'string', description: 'Sent as `webhook-id`: receivers drop an id they have seen.' },
      eventType: { type: 'string', enum: [...MEETING_EVENT_TYPES] },
      meetingId: { type: 'string' },
      status: { type: 'string', enum: ['pending', 'delivered', 'failed'] },
      attempts: { type: 'integer' },
      redeliveries: { type: 'integer' },
      lastStatusCode: { type: ['integer', 'null'] },
      lastError: { type: ['string', 'null'] },
      createdAt: { type: 'string', format: 'date-time' },
      deliveredAt: { type: ['string', 'null'], format: 'date-time' },
      attemptLog: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            attempt: { type: 'integer' },
            statusCode: { type: ['integer', 'null'] },
            error: { type: ['string', 'null'] },
            durationMs: { type: 'integer' },
            at: { type: 'string', format: 'date-time' },
          },
        },
      },
    },
  },
};
