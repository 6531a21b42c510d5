import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { serveStatic } from '@hono/node-server/serve-static';
import type { MiddlewareHandler } from 'hono';
import { Hono } from 'hono';
import { getCookie } from 'hono/cookie';
import type { WorkerRegistry } from '../../core/worker-registry.js';
import { ADMIN_COOKIE, type AdminSessions } from '../admin-session.js';
import type { AppDeps } from '../app.js';
import type { AppEnv } from '../env.js';

/**
 * `/admin/session`: POST (with an admin key as the bearer header; the
 * middlewares passed in check it) opens a browser session for the
 * operator pages; DELETE (by the cookie) ends it.
 */
export function adminSessionRoutes(sessions: AdminSessions, keyed: MiddlewareHandler<AppEnv>) {
  return new Hono<AppEnv>()
    .post('/session', keyed, async (c) => {
      const token = await sessions.open(c.get('apiKeyId'));
      sessions.setCookie(c, token);
      c.get('logger').info({ apiKeyId: c.get('apiKeyId') }, 'admin session opened');
      return c.body(null, 204);
    })
    .delete('/session', async (c) => {
      const token = getCookie(c, ADMIN_COOKIE);
      if (token) await sessions.close(token);
      sessions.clearCookie(c);
      return c.body(null, 204);
    });
}

/**
 * bull-board (waiting, active, delayed, failed with reasons, completed, and
 * its retry/remove actions) for the transcription queues, as a Hono app
 * answering under `basePath`; app.ts mounts it behind the admin session.
 */
export function queueBoard(queues: AppDeps['queues'], basePath: string): Hono {
  const adapter = new HonoAdapter(serveStatic).setBasePath(basePath);
  createBullBoard({
    queues: [new BullMQAdapter(queues.regular), new BullMQAdapter(queues.large)],
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'meno queues' } },
  });
  return new Hono().route(basePath, adapter.registerPlugin());
}

/** `GET /api/admin/workers`: the live workers from their heartbeats, with how long ago each last beat. */
export function workersRoutes(registry: WorkerRegistry) {
  return new Hono<AppEnv>().get('/', async (c) => {
    const now = Date.now();
    const workers = (await registry.list()).map((w) => ({ ...w, lastBeatAgoMs: Math.max(0, now - Date.parse(w.beatAt)) }));
    return c.json({ workers }, 200);
  });
}
