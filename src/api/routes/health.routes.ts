import { Hono } from 'hono';
import type { AppDeps } from '../app.js';
import type { AppEnv } from '../env.js';
import { RETRY_AFTER_SEC } from '../middleware/error-handler.js';

/** A dependency check that has not answered by then counts as failed, so /readyz answers within about this long. */
export const READY_CHECK_TIMEOUT_MS = 1500;

/** `/healthz` (process up) and `/readyz` (Redis and MongoDB answer), open to probes; `/metrics` (Prometheus), behind the API key (app.ts). */
export function healthRoutes(deps: Pick<AppDeps, 'checks' | 'metrics'>) {
  return new Hono<AppEnv>()
    .get('/healthz', (c) => c.json({ status: 'ok' as const }, 200))
    .get('/readyz', async (c) => {
      const [mongo, redis] = await Promise.all([bounded(deps.checks.mongo), bounded(deps.checks.redis)]);
      const checks = { mongo: mongo ? ('ok' as const) : ('down' as const), redis: redis ? ('ok' as const) : ('down' as const) };
      if (mongo && redis) return c.json({ status: 'ok' as const, checks }, 200);
      const down = Object.entries(checks).filter(([, v]) => v === 'down').map(([k]) => k);
      c.header('Retry-After', String(RETRY_AFTER_SEC));
      return c.json({ error: { code: 'UNAVAILABLE' as const, message: `not ready: ${down.join(' and ')} unreachable` }, checks }, 503);
    })
    .get('/metrics', async (c) => {
      const body = await deps.metrics.registry.metrics();
      return c.body(body, 200, { 'Content-Type': deps.metrics.registry.contentType });
    });
}

async function bounded(check: () => Promise<boolean>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), READY_CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([check().catch(() => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
