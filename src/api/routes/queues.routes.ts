import { Hono } from 'hono';
import type { AppDeps } from '../app.js';
import type { AppEnv } from '../env.js';

/** `GET /api/queues/metrics`: the guide's getQueueMetrics, overall and per queue; 503 while Redis is down. */
export function queuesRoutes(deps: Pick<AppDeps, 'queues'>) {
  return new Hono<AppEnv>().get('/metrics', async (c) => c.json(await deps.queues.getQueueMetrics(), 200));
}
