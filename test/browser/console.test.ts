/**
 * The web console in a real browser: Debian's headless Chromium driven by
 * playwright-core, against the real service (API and worker processes with
 * whisper-tiny, redis-server, FerretDB). Signs in, uploads jfk.wav with
 * the upload bar, starts it, follows it live to 100%, reads the sentence,
 * plays from a clicked line, and downloads the SRT, which must equal the
 * API's. Screenshots go to a temp folder, or to docs/img with
 * SAVE_SCREENSHOTS=1 (how the README's images are made).
 */
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JFK } from '../helpers/fixtures.js';
import { API_KEY, type Stack, startStack } from '../helpers/stack.js';

/** Debian's `chromium` package (scripts/provision.sh installs it); Playwright's own browser download cannot work here. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const PROJECT = 'acme';

/** What the test reads of the page's audio element and progress bars (the project's TypeScript has no DOM types). */
type Media = { currentTime: number; readyState: number; pause(): void };
type Bar = { value: number };

let stack: Stack;
let browser: Browser;
let page: Page;
let shots: string;
let tempShots: string | undefined;

beforeAll(async () => {
  if (process.env.SAVE_SCREENSHOTS === '1') shots = join(import.meta.dirname, '../../docs/img');
  else shots = tempShots = await mkdtemp(join(tmpdir(), 'meno-console-shots-'));
  await mkdir(shots, { recursive: true });
  stack = await startStack({ env: { EVENT_STREAM_POLL_MS: '200' } });
  const [, launched] = await Promise.all([
    stack.startApi().then(() => stack.startWorker('console-worker')),
    // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--mute-audio'] }),
  ]);
  browser = launched;
  page = await browser.newPage({ viewport: { width: 1280, height: 860 }, acceptDownloads: true });
  page.on('pageerror', (err) => {
    throw err;
  });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await stack?.dispose();
  if (tempShots) await rm(tempShots, { recursive: true, force: true });
});

/** The status line, and the error box when it shows (so that a failure says why). */
async function statusAndError(): Promise<string> {
  const status = await page.locator('#meeting-status').textContent();
  const error = (await page.locator('#meeting-error').isVisible()) ? await page.locator('#meeting-error').textContent() : '';
  return `${status} ${error}`.trim();
}

describe('web console in Chromium', () => {
  it('signs in with a key kept for the tab only', async () => {
    await page.goto(`${stack.apiUrl()}/`);
    await expect.poll(() => page.locator('#login').isVisible(), { timeout: 10_000 }).toBe(true);
    await page.screenshot({ path: join(shots, 'console-sign-in.png') });
    await page.getByLabel('API key').fill('wrong-key');
    await page.getByLabel('Project id').fill(PROJECT);
    await page.getByRole('button', { name: 'Open' }).click();
    await expect.poll(() => page.locator('#login-error').textContent(), { timeout: 10_000 }).toMatch(/invalid API key/);
    await page.getByLabel('API key').fill(API_KEY);
    await page.getByRole('button', { name: 'Open' }).click();
    await page.locator('#workspace').waitFor({ state: 'visible' });
    await expect.poll(() => page.evaluate('JSON.parse(sessionStorage.getItem("meno.console"))'), { timeout: 10_000 }).toEqual({ key: API_KEY, projectId: PROJECT });
    expect(await page.evaluate('document.cookie')).toBe('');
  });

  it('uploads jfk.wav with the progress bar, starts it and follows it live to 100 %', async () => {
    // Record every value the upload bar and the transcription bar take.
    await page.evaluate(`
      window.seen = { upload: [], meeting: [] };
      for (const [id, into] of [['upload-progress', window.seen.upload], ['meeting-progress', window.seen.meeting]]) {
        const bar = document.getElementById(id);
        new MutationObserver(() => into.push(bar.value)).observe(bar, { attributes: true });
      }
    `);
    await page.getByLabel('Audio file').setInputFiles(JFK);
    await page.getByLabel(/Meeting id/).fill('jfk');
    await page.getByRole('button', { name: 'Upload' }).click();
    await expect.poll(() => page.locator('#meeting-title').textContent(), { timeout: 20_000 }).toBe('Meeting jfk');
    expect(await page.locator('#upload-status').textContent()).toMatch(/Uploaded jfk \(11 s\)/);
    expect(await page.locator('#upload-progress').evaluate((e) => (e as unknown as Bar).value)).toBe(100);
    await expect.poll(() => page.locator('.meeting-item[data-meeting-id="jfk"]').textContent(), { timeout: 10_000 }).toMatch(/pending/);

    await page.getByLabel(/Word timestamps/).check();
    await page.getByRole('button', { name: 'Start transcription' }).click();
    await expect.poll(() => statusAndError(), { timeout: 90_000, interval: 250 }).toMatch(/Status: completed · 100%/);
    expect(await page.locator('#meeting-progress').evaluate((e) => (e as unknown as Bar).value)).toBe(100);
    const seen = (await page.evaluate('window.seen')) as { upload: number[]; meeting: number[] };
    expect(seen.upload.at(-1)).toBe(100);
    expect(seen.meeting).toEqual([...seen.meeting].sort((a, b) => a - b));
    expect(seen.meeting.at(-1)).toBe(100);
    await expect.poll(() => page.locator('.meeting-item[data-meeting-id="jfk"]').textContent(), { timeout: 10_000 }).toMatch(/completed/);
  }, 120_000);

  it('shows the reference sentence, plays from a clicked line and highlights it', async () => {
    const text = (await page.locator('#segments').innerText()).toLowerCase().replace(/[^a-z ]+/g, ' ');
    expect(text.replace(/\s+/g, ' ')).toContain('ask not what your country can do for you');
    await expect.poll(() => page.locator('#player').evaluate((a) => (a as unknown as Media).readyState), { timeout: 10_000 }).toBeGreaterThanOrEqual(1);

    const lines = page.locator('.segment');
    const target = lines.nth((await lines.count()) - 1);
    const start = Number(await target.locator('.segment-time').getAttribute('data-start'));
    expect(start).toBeGreaterThan(0);
    await target.locator('.segment-text').click();
    const time = await page.locator('#player').evaluate((a) => (a as unknown as Media).currentTime);
    expect(time).toBeGreaterThanOrEqual(start);
    expect(time).toBeLessThan(start + 1.5);
    await expect.poll(() => target.getAttribute('aria-current'), { timeout: 10_000 }).toBe('true');
    await page.locator('#player').evaluate((a) => (a as unknown as Media).pause());

    // Started with word timestamps: a clicked word plays from the word.
    const words = page.locator('.word');
    await expect.poll(() => words.count(), { timeout: 10_000 }).toBeGreaterThan(10);
    const word = words.nth(12);
    const wordStart = Number(await word.getAttribute('data-start'));
    expect(wordStart).toBeGreaterThan(start);
    await word.click();
    const atWord = await page.locator('#player').evaluate((a) => (a as unknown as Media).currentTime);
    expect(atWord).toBeGreaterThanOrEqual(wordStart);
    expect(atWord).toBeLessThan(wordStart + 1);
    await page.locator('#player').evaluate((a) => (a as unknown as Media).pause());
    await page.screenshot({ path: join(shots, 'console-meeting.png') });

    // Keyboard: the line's time button plays from its start.
    await page.locator('#player').evaluate((a) => ((a as unknown as Media).currentTime = 0));
    await lines.first().locator('.segment-time').focus();
    await page.keyboard.press('Enter');
    const first = Number(await lines.first().locator('.segment-time').getAttribute('data-start'));
    expect(await page.locator('#player').evaluate((a) => (a as unknown as Media).currentTime)).toBeLessThan(first + 1.5);
    await page.locator('#player').evaluate((a) => (a as unknown as Media).pause());
  });

  it('downloads the SRT, byte for byte what the API serves', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'SRT' }).click()]);
    expect(download.suggestedFilename()).toBe('jfk.srt');
    const downloaded = await readFile(await download.path(), 'utf8');
    const fromApi = await (await stack.api(`/api/projects/${PROJECT}/meetings/jfk/transcript?format=srt`)).text();
    expect(downloaded).toBe(fromApi);
    expect(downloaded).toMatch(/^1\n00:00:\d\d,\d{3} --> 00:00:\d\d,\d{3}\n.*ask not what your country/);
  });

  it('shows a failed meeting\'s error with a retry button, and the retry completes it', async () => {
    // A file registered by path that disappears before the worker reads it.
    await copyFile(JFK, join(stack.audioRoot, 'moved.wav'));
    const created = await stack.api(`/api/projects/${PROJECT}/meetings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ audioUri: 'moved.wav', meetingId: 'moved' }),
    });
    expect(created.status).toBe(201);
    await rm(join(stack.audioRoot, 'moved.wav'));
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.locator('.meeting-item[data-meeting-id="moved"]').click();
    await page.getByRole('button', { name: 'Start transcription' }).click();
    await expect.poll(() => page.locator('#meeting-status').textContent(), { timeout: 60_000, interval: 250 }).toMatch(/Status: failed/);
    expect(await page.locator('#meeting-error').isVisible()).toBe(true);
    expect(await page.locator('#meeting-error').textContent()).toMatch(/^Failed.*: \S/);
    expect(await page.getByRole('button', { name: 'Retry' }).isVisible()).toBe(true);
    await page.screenshot({ path: join(shots, 'console-failed.png') });

    await copyFile(JFK, join(stack.audioRoot, 'moved.wav'));
    await page.getByRole('button', { name: 'Retry' }).click();
    await expect.poll(() => statusAndError(), { timeout: 90_000, interval: 250 }).toMatch(/Status: completed · 100%/);
    expect(await page.locator('#meeting-error').isVisible()).toBe(false);
    expect((await page.locator('#segments').innerText()).toLowerCase()).toContain('ask not what your country');
  }, 150_000);

  it('fits a phone-width screen', async () => {
    await page.locator('.meeting-item[data-meeting-id="jfk"]').click();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.locator('#meetings-title').scrollIntoViewIfNeeded();
    // Nothing wider than the screen: no sideways scrolling.
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(shots, 'console-phone.png') });
  });

  it('operators: signs in with the admin key, lists the worker from its heartbeat, opens bull-board', async () => {
    await page.setViewportSize({ width: 1280, height: 720 });
    await page.goto(`${stack.apiUrl()}/admin`);
    await page.getByLabel('Admin API key').fill(API_KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.locator('#worker-rows').innerText(), { timeout: 15_000 }).toMatch(/whisper-tiny/);
    const row = await page.locator('#worker-rows tr').first().innerText();
    expect(row).toMatch(/regular, large/);
    expect(row).toMatch(/\/healthz/);
    await page.screenshot({ path: join(shots, 'admin-workers.png') });

    await page.getByRole('link', { name: 'Queues (bull-board)' }).click();
    await page.waitForURL(/\/admin\/queues/);
    await expect.poll(() => page.locator('body').innerText(), { timeout: 20_000 }).toMatch(/transcription-queue-large/);
    // The regular queue's completed jobs: jfk and the retried meeting.
    await page.goto(`${stack.apiUrl()}/admin/queues/queue/transcription-queue?status=completed`);
    await expect.poll(() => page.locator('main').innerText(), { timeout: 20_000 }).toMatch(/transcription-acme\.jfk|transcription-jfk/);
    await page.screenshot({ path: join(shots, 'admin-queues.png') });
    // The session cookie is HttpOnly: the page's scripts cannot read it.
    expect(await page.evaluate('document.cookie')).toBe('');
  }, 60_000);
});
