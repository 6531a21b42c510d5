import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { z } from 'zod';
import { UnsupportedMediaTypeError } from '../../core/errors.js';
import { MEETING_EVENT_TYPES } from '../../core/meetings/meeting-events.js';
import { MAX_WEBHOOK_URL_CHARS } from '../../webhooks/receiver-address.js';
import type { WebhookAttempt, WebhookDelivery, WebhookEndpoint } from '../../webhooks/webhook.repository.js';
import type { AppDeps } from '../app.js';
import type { AppEnv } from '../env.js';
import { isJsonMediaType, readJsonBody } from '../middleware/json-body.js';
import { idSchema, parseOrThrow, validationHook } from '../validation.js';

const url = z.string().min(1, 'expected a URL').max(MAX_WEBHOOK_URL_CHARS, `expected at most ${MAX_WEBHOOK_URL_CHARS} characters`);
const events = z
  .array(z.enum(MEETING_EVENT_TYPES, { error: `expected one of ${MEETING_EVENT_TYPES.join(', ')}` }))
  .min(1, 'expected at least one event type')
  .max(MEETING_EVENT_TYPES.length * 2, 'too many entries');
const description = z.string().trim().max(200, 'expected at most 200 characters');

const createBody = z.strictObject({ url, events, enabled: z.boolean().optional(), description: description.optional() });
const updateBody = z
  .strictObject({ url: url.optional(), events: events.optional(), enabled: z.boolean().optional(), description: description.optional() })
  .refine((v) => Object.keys(v).length > 0, 'expected at least one of url, events, enabled, description');

/** Endpoint ids are `whep_` + 24 hex digits; `callback` names the project's callbackUrl deliveries. */
const endpointId = z.string().regex(/^(whep_[0-9a-f]{24}|callback)$/, 'expected an endpoint id (whep_...) or "callback"');
const endpointParams = z.object({ projectId: idSchema, endpointId });
const deliveryParams = endpointParams.extend({ deliveryId: z.string().regex(/^dlv_[0-9a-f]{24}$/, 'expected a delivery id (dlv_...)') });
const deliveriesQuery = z.object({ limit: z.coerce.number({ error: 'expected an integer between 1 and 100' }).int().min(1).max(100).default(20) });

type WebhookDeps = Pick<AppDeps, 'config' | 'webhooks'>;

/**
 * A project's webhook endpoints and their delivery logs, mounted at
 * `/api/projects/:projectId/webhooks`. The endpoint's signing secret is
 * shown once, in the answer to its creation.
 */
export function webhooksRoutes(deps: WebhookDeps) {
  const projectParam = zValidator('param', z.object({ projectId: idSchema }), validationHook);
  const endpointParam = zValidator('param', endpointParams, validationHook);
  const jsonBody = async <T extends z.ZodType>(request: Request, schema: T): Promise<z.output<T>> => {
    if (!isJsonMediaType(request.headers.get('Content-Type') ?? undefined)) throw new UnsupportedMediaTypeError('the body must be application/json');
    return parseOrThrow(schema, await readJsonBody(request, deps.config.http.maxJsonBytes), 'json');
  };
  return new Hono<AppEnv>()
    .post('/', projectParam, async (c) => {
      const { projectId } = c.req.valid('param');
      const body = await jsonBody(c.req.raw, createBody);
      const endpoint = await deps.webhooks.create(projectId, body);
      c.header('Location', `/api/projects/${projectId}/webhooks/${endpoint._id}`);
      return c.json({ ...endpointBody(endpoint), secret: endpoint.secret }, 201);
    })
    .get('/', projectParam, async (c) => {
      const { projectId } = c.req.valid('param');
      return c.json({ endpoints: (await deps.webhooks.list(projectId)).map(endpointBody) }, 200);
    })
    .get('/callback-secret', projectParam, async (c) => {
      const { projectId } = c.req.valid('param');
      return c.json({ projectId, secret: await deps.webhooks.callbackSecret(projectId) }, 200);
    })
    .get('/:endpointId', endpointParam, async (c) => {
      const { projectId, endpointId } = c.req.valid('param');
      return c.json(endpointBody(await deps.webhooks.get(projectId, endpointId)), 200);
    })
    .patch('/:endpointId', endpointParam, async (c) => {
      const { projectId, endpointId } = c.req.valid('param');
      const body = await jsonBody(c.req.raw, updateBody);
      return c.json(endpointBody(await deps.webhooks.update(projectId, endpointId, body)), 200);
    })
    .post('/:endpointId/rotate-secret', endpointParam, async (c) => {
      const { projectId, endpointId } = c.req.valid('param');
      const endpoint = await deps.webhooks.rotateSecret(projectId, endpointId);
      return c.json({ ...endpointBody(endpoint), secret: endpoint.secret, previousSecretValidUntil: endpoint.previousSecretUntil?.toISOString() ?? null }, 200);
    })
    .delete('/:endpointId', endpointParam, async (c) => {
      const { projectId, endpointId } = c.req.valid('param');
      await deps.webhooks.remove(projectId, endpointId);
      return c.body(null, 204);
    })
    .get('/:endpointId/deliveries', endpointParam, zValidator('query', deliveriesQuery, validationHook), async (c) => {
      const { projectId, endpointId } = c.req.valid('param');
      const { limit } = c.req.valid('query');
      const deliveries = await deps.webhooks.deliveries(projectId, endpointId, limit);
      return c.json({ deliveries: deliveries.map((d) => deliveryBody(d, d.attemptLog)) }, 200);
    })
    .post('/:endpointId/deliveries/:deliveryId/redeliver', zValidator('param', deliveryParams, validationHook), async (c) => {
      const { projectId, endpointId, deliveryId } = c.req.valid('param');
      const delivery = await deps.webhooks.redeliver(projectId, endpointId, deliveryId);
      return c.json(deliveryBody(delivery, []), 202);
    });
}

function endpointBody(e: WebhookEndpoint) {
  return {
    endpointId: e._id,
    projectId: e.projectId,
    url: e.url,
    events: e.events,
    enabled: e.enabled,
    description: e.description ?? null,
    createdAt: e.createdAt.toISOString(),
    updatedAt: e.updatedAt.toISOString(),
  };
}

function deliveryBody(d: WebhookDelivery, attempts: WebhookAttempt[]) {
  return {
    deliveryId: d._id,
    endpointId: d.endpointId,
    eventId: d.eventId,
    eventType: d.eventType,
    meetingId: d.meetingId,
    status: d.status,
    attempts: d.attempts,
    redeliveries: d.redeliveries,
    lastStatusCode: d.lastStatusCode ?? null,
    lastError: d.lastError ?? null,
    createdAt: d.createdAt.toISOString(),
    deliveredAt: d.deliveredAt ? d.deliveredAt.toISOString() : null,
    attemptLog: attempts.map((a) => ({ attempt: a.attempt, statusCode: a.statusCode ?? null, error: a.error ?? null, durationMs: a.durationMs, at: a.at.toISOString() })),
  };
}
