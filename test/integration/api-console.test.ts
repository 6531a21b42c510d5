/**
 * The web console's static files as the API serves them: no key needed,
 * right content types, ETag revalidation, a same-origin CSP, and nothing
 * loaded from another origin.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CSP, CONSOLE_DIR_CANDIDATES } from '../../src/api/routes/console.routes.js';
import { type ApiHarness, createHarness } from './api-harness.js';

let h: ApiHarness;
const NO_KEY = { headers: { Authorization: '' } };

beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

describe('the web console', () => {
  it('serves the page at / without a key, with a same-origin CSP and revalidation', async () => {
    const res = await h.request('/', NO_KEY);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toMatch(/default-src 'self'/);
    expect(CONSOLE_CSP).not.toMatch(/unsafe|https?:|\*/);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await res.text();
    expect(html).toContain('<script type="module" src="/console/console.js"></script>');
    const etag = res.headers.get('etag')!;
    expect((await h.request('/', { headers: { Authorization: '', 'If-None-Match': etag } })).status).toBe(304);
  });

  it('serves every file the page links to, with its content type', async () => {
    const html = await (await h.request('/', NO_KEY)).text();
    const linked = [...html.matchAll(/(?:src|href)="(\/console\/[^"]+)"/g)].map((m) => m[1]);
    expect(linked.sort()).toEqual(['/console/console.css', '/console/console.js', '/console/favicon.svg']);
    const types: Record<string, string> = { css: 'text/css; charset=utf-8', js: 'text/javascript; charset=utf-8', svg: 'image/svg+xml' };
    for (const path of linked) {
      const res = await h.request(path, NO_KEY);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toBe(types[path.split('.').pop()!]);
      expect(res.headers.get('content-security-policy'), path).toBe(CONSOLE_CSP);
    }
  });

  it('loads nothing from another origin (no CDN)', async () => {
    const dir = CONSOLE_DIR_CANDIDATES[0];
    for (const name of await readdir(dir)) {
      const text = await readFile(join(dir, name), 'utf8');
      expect(text.match(/(?:src|href|url)\s*[=(]\s*["']?(?:https?:)?\/\//gi), name).toBeNull();
      expect(text.match(/\bimport\s.*from\s+["']https?:/g), name).toBeNull();
    }
  });

  it('answers 404 for unknown files and 400 for names that are not console files, keyless paths only', async () => {
    expect((await h.request('/console/nope.js', NO_KEY)).status).toBe(404);
    for (const bad of ['/console/..%2Fapp.ts', '/console/.env', '/console/CONSOLE.JS']) {
      const res = await h.request(bad, NO_KEY);
      expect(res.status, bad).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('VALIDATION_FAILED');
    }
    // The API itself still needs the key.
    expect((await h.request('/api/projects/p/meetings', NO_KEY)).status).toBe(401);
  });
});
