/**
 * The HTTP API as a Hono app built from its dependencies. Production
 * (main.ts) and tests call the same `createApp`, so request ids, logging,
 * auth, 404s and error envelopes behave identically in both.
 */
import { type Context, Hono } from 'hono';
import { every } from 'hono/combine';
import { requestId } from 'hono/request-id';
import type { Config } from '../core/config.js';
import { ApiKeyResolver } from '../core/keys/api-key-resolver.js';
import type { ApiKeyRepository } from '../core/keys/api-key.repository.js';
import type { Logger } from '../core/logger.js';
import type { MeetingDeletion } from '../core/meetings/meeting-deletion.js';
import type { MeetingRepository } from '../core/meetings/meeting.repository.js';
import type { SegmentRepository } from '../core/meetings/segment.repository.js';
import type { ServiceMetrics } from '../core/metrics.js';
import type { TranscriptionQueues } from '../core/transcription-queues.js';
import type { TranscriptionService } from '../core/transcription.service.js';
import { WorkerRegistry } from '../core/worker-registry.js';
import type { WebhookService } from '../webhooks/webhook.service.js';
import { adminSession, AdminSessions } from './admin-session.js';
import type { AudioInspector } from './audio-intake.js';
import type { AppEnv } from './env.js';
import { adminOnly, apiKeyAuth, projectScope } from './middleware/auth.js';
import { errorHandler, notFoundHandler } from './middleware/error-handler.js';
import { rateLimit } from './middleware/rate-limit.js';
import { requestLog } from './middleware/request-log.js';
import { uploadSlots } from './middleware/upload-slots.js';
import { openApiDocument } from './openapi.js';
import { adminKeysRoutes } from './routes/admin-keys.routes.js';
import { audioRoutes } from './routes/audio.routes.js';
import { consoleRoutes } from './routes/console.routes.js';
import { eventsRoutes } from './routes/events.routes.js';
import { healthRoutes } from './routes/health.routes.js';
import { jobsRoutes } from './routes/jobs.routes.js';
import { meetingsRoutes } from './routes/meetings.routes.js';
import { openAiRoutes } from './routes/openai.routes.js';
import { adminSessionRoutes, queueBoard, workersRoutes } from './routes/operator.routes.js';
import { queuesRoutes } from './routes/queues.routes.js';
import { transcriptionRoutes } from './routes/transcription.routes.js';
import { webhooksRoutes } from './routes/webhooks.routes.js';

export type { AppEnv } from './env.js';

export interface AppDeps {
  config: Config;
  logger: Logger;
  meetings: MeetingRepository;
  segments: SegmentRepository;
  service: TranscriptionService;
  queues: TranscriptionQueues;
  metrics: ServiceMetrics;
  /** Readiness probes; each resolves false (or is cut off after ~1.5 s) when its server is unreachable. */
  checks: { mongo: () => Promise<boolean>; redis: () => Promise<boolean> };
  /** Magic-number sniff and ffprobe, with the binary the config names. */
  audio: AudioInspector;
  /** Stored API keys (project and admin keys beside API_KEYS). */
  apiKeys: ApiKeyRepository;
  /** Webhook endpoints, delivery logs, redelivery, and the SSRF check of callback URLs. */
  webhooks: WebhookService;
  /** Meeting deletes (DELETE .../meetings/:meetingId). */
  deletion: MeetingDeletion;
}

export function createApp(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  app.use(requestId());
  app.use(requestLog(deps.logger, deps.metrics));
  app.notFound(notFoundHandler);
  app.onError(errorHandler(deps.logger));

  const document = openApiDocument();
  const { http } = deps.config;
  // One resolver per app (per process): its short cache is what bounds how long a revoked key still works here.
  const auth = apiKeyAuth(new ApiKeyResolver({ envKeys: http.apiKeys, repository: deps.apiKeys, cacheTtlMs: http.apiKeyCacheMs, logger: deps.logger }));
  const admin = adminOnly();
  const scope = projectScope();
  // One limiter for every keyed route, so a key's budget is shared by /api, /v1 and /metrics.
  const limit = rateLimit({ perMinute: http.rateLimitPerMinute, burst: http.rateLimitBurst }, deps.logger);
  const uploads = uploadSlots(http.maxConcurrentUploadsPerKey, deps.logger);
  // Operator pages: a browser session opened with an admin key (admin-session.ts), then bull-board.
  const sessions = new AdminSessions(deps.queues.redis, deps.config.queue.prefix);
  const board = queueBoard(deps.queues, '/admin/queues');
  const operator = adminSession(sessions);
  const toBoard = (c: Context<AppEnv>) => board.fetch(c.req.raw);
  return app
    // Metrics name queues, projects' routes and error codes: only admin keys (Prometheus sends one) read them.
    .use('/metrics', auth, limit, admin)
    .route('/', healthRoutes(deps))
    // The web console's page and files need no key: the page asks for one.
    .route('/', consoleRoutes())
    .route('/admin', adminSessionRoutes(sessions, every(auth, limit, admin)))
    .all('/admin/queues', operator, limit, toBoard)
    .all('/admin/queues/*', operator, limit, toBoard)
    .use('/api/*', auth, limit)
    .get('/api/openapi.json', (c) => c.json(document, 200))
    // Before the upload slots: a request for another project takes none.
    .use('/api/projects/:projectId/*', scope)
    .use('/api/queues/*', admin)
    .use('/api/admin/*', admin)
    .route('/api/admin/keys', adminKeysRoutes(deps))
    .route('/api/admin/workers', workersRoutes(new WorkerRegistry(deps.queues.redis, deps.config.queue.prefix)))
    .use('/api/projects/:projectId/meetings', uploads)
    .route('/api/projects/:projectId/meetings', meetingsRoutes(deps))
    .route('/api/projects/:projectId/meetings/:meetingId', transcriptionRoutes(deps))
    .route('/api/projects/:projectId/meetings/:meetingId', audioRoutes(deps))
    .route('/api/projects/:projectId/meetings/:meetingId', eventsRoutes(deps, { pollMs: http.eventStreamPollMs, perKey: http.maxEventStreamsPerKey }))
    .route('/api/projects/:projectId/webhooks', webhooksRoutes(deps))
    .route('/api/jobs', jobsRoutes(deps))
    .route('/api/queues', queuesRoutes(deps))
    .use('/v1/*', auth, limit)
    .use('/v1/audio/*', uploads)
    .route('/v1', openAiRoutes(deps));
}

/** The API's route types, for `hc<AppType>()` / `testClient`. */
export type AppType = ReturnType<typeof createApp>;
