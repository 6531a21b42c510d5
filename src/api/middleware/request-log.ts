import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { Logger } from '../../core/logger.js';
import type { ServiceMetrics } from '../../core/metrics.js';
import type { AppEnv } from '../env.js';

/**
 * Gives each request a child logger `{ reqId }` (after hono's requestId) and
 * logs one line per response: method, path, status and milliseconds. Headers
 * are never logged, so neither is the Authorization header. Counts the
 * request in `meno_http_requests_total` by route pattern, not raw path, to
 * keep the label set small.
 */
export function requestLog(logger: Logger, metrics: Pick<ServiceMetrics, 'httpRequests'>): MiddlewareHandler<AppEnv> {
  const base = logger.child({ module: 'http' });
  return async (c, next) => {
    const started = performance.now();
    const log = base.child({ reqId: c.get('requestId') });
    c.set('logger', log);
    await next();
    const status = c.res.status;
    const ms = Math.round((performance.now() - started) * 10) / 10;
    const fields = { method: c.req.method, path: c.req.path, status, ms };
    if (status >= 500) log.warn(fields, 'request');
    else log.info(fields, 'request');
    metrics.httpRequests.inc({ method: c.req.method, route: routeLabel(c), status: String(status) });
  };
}

function routeLabel(c: Parameters<MiddlewareHandler>[0]): string {
  const path = routePath(c);
  return path && path !== '/*' && path !== '*' ? path : 'unmatched';
}
