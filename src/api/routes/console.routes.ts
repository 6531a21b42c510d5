import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { zValidator } from '@hono/zod-validator';
import type { Context } from 'hono';
import { Hono } from 'hono';
import { z } from 'zod';
import { NotFoundError } from '../../core/errors.js';
import type { AppEnv } from '../env.js';
import { validationHook } from '../validation.js';

/**
 * Where the console's files are: src/console/public beside this module's
 * folder in the source tree, or the source tree's copy when this module
 * runs compiled from dist/src/api/routes.
 */
export const CONSOLE_DIR_CANDIDATES = [
  fileURLToPath(new URL('../../console/public/', import.meta.url)),
  fileURLToPath(new URL('../../../../src/console/public/', import.meta.url)),
];

/**
 * Only this origin's files: scripts and styles from /console, API calls to
 * this origin, and audio from blob: URLs (the player's audio is fetched with
 * the bearer header, which an audio element cannot send).
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

interface StaticFile {
  body: Uint8Array<ArrayBuffer>;
  contentType: string;
  etag: string;
}

/** Reads the console's files once (a few tens of kB); a file of a type not listed above is not served. */
export function loadConsoleFiles(dir: string | undefined = CONSOLE_DIR_CANDIDATES.find((d) => existsSync(join(d, 'index.html')))): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  if (!dir) return files;
  for (const name of readdirSync(dir)) {
    const contentType = CONTENT_TYPES[extname(name)];
    if (!contentType) continue;
    const body = new Uint8Array(readFileSync(join(dir, name)));
    files.set(name, { body, contentType, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  return files;
}

const fileParams = z.object({ file: z.string().regex(/^[a-z0-9-]{1,40}\.[a-z]{2,4}$/, 'expected a console file name such as console.js') });

/**
 * The web console: `GET /` (the page), `GET /admin` (the operators' page)
 * and `GET /console/:file` (their scripts, styles and icon), open without a
 * key (the pages ask for one and keep it in the tab's sessionStorage). Every
 * answer revalidates by ETag, so a new release is picked up at once, and
 * carries a same-origin CSP.
 */
export function consoleRoutes(files: Map<string, StaticFile> = loadConsoleFiles()) {
  const send = (c: Context<AppEnv>, name: string) => {
    const file = files.get(name);
    if (!file) throw new NotFoundError(name === 'index.html' ? 'the console is not installed (src/console/public is missing)' : `no console file ${name}`);
    c.header('Content-Security-Policy', CONSOLE_CSP);
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('Cache-Control', 'no-cache');
    c.header('ETag', file.etag);
    if (c.req.header('If-None-Match') === file.etag) return c.body(null, 304);
    return c.body(file.body, 200, { 'Content-Type': file.contentType });
  };
  return new Hono<AppEnv>()
    .get('/', (c) => send(c, 'index.html'))
    // The operators' page: signs in for bull-board (/admin/queues) and lists the workers.
    .get('/admin', (c) => send(c, 'admin.html'))
    .get('/console/:file', zValidator('param', fileParams, validationHook), (c) => send(c, c.req.valid('param').file));
}
