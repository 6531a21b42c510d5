import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { CONFIG_VARIABLES, ConfigError, loadConfig, summarizeConfig } from '../../src/core/config.js';

describe('loadConfig', () => {
  it('gives documented defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config.queue).toMatchObject({
      regularName: 'transcription-queue',
      largeName: 'transcription-queue-large',
      largeThresholdSec: 2400,
      attempts: 3,
      backoffMs: 1000,
      failedRetentionSec: 7 * 24 * 3600,
      lockDurationMs: 30_000,
      stalledIntervalMs: 30_000,
    });
    expect(config.mongo.db).toBe('meno');
    expect(config.http.port).toBe(3000);
    expect(Object.isFrozen(config.queue)).toBe(true);
  });

  it('parses numbers, booleans and lists', () => {
    const config = loadConfig({ PORT: '8080', LOG_PRETTY: 'true', API_KEYS: 'a, b,,c', WORKER_QUEUES: 'large' });
    expect(config.http.port).toBe(8080);
    expect(config.log.pretty).toBe(true);
    expect(config.http.apiKeys).toEqual(['a', 'b', 'c']);
    expect(config.worker.queues).toEqual(['large']);
  });

  it('names every bad variable and what it expects', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', REDIS_URL: 'http://x', MODEL_VARIANT: 'int4', QUEUE_NAME: 'a:b' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(4);
    expect(problems.find((p) => p.startsWith('PORT:'))).toMatch(/integer/);
    expect(problems.find((p) => p.startsWith('REDIS_URL:'))).toMatch(/redis:\/\//);
    expect(problems.find((p) => p.startsWith('MODEL_VARIANT:'))).toMatch(/q8/);
    expect(problems.find((p) => p.startsWith('QUEUE_NAME:'))).toMatch(/no ":"/);
  });

  it('has per-key limits and slow-client timeouts by default, and lets the limits be turned off', () => {
    expect(loadConfig({}).http).toMatchObject({
      rateLimitPerMinute: 1200,
      rateLimitBurst: 120,
      maxConcurrentUploadsPerKey: 4,
      headersTimeoutMs: 20_000,
      uploadIdleTimeoutMs: 30_000,
    });
    const off = loadConfig({ RATE_LIMIT_PER_MINUTE: '0', MAX_CONCURRENT_UPLOADS_PER_KEY: '0' }).http;
    expect([off.rateLimitPerMinute, off.maxConcurrentUploadsPerKey]).toEqual([0, 0]);
    let error: unknown;
    try {
      loadConfig({ RATE_LIMIT_BURST: '0', HTTP_HEADERS_TIMEOUT_MS: '0', UPLOAD_IDLE_TIMEOUT_MS: '10', RATE_LIMIT_PER_MINUTE: '-1' });
    } catch (err) {
      error = err;
    }
    expect((error as ConfigError).problems.map((p) => p.split(':')[0]).sort()).toEqual([
      'HTTP_HEADERS_TIMEOUT_MS',
      'RATE_LIMIT_BURST',
      'RATE_LIMIT_PER_MINUTE',
      'UPLOAD_IDLE_TIMEOUT_MS',
    ]);
  });

  it('rejects a stalled interval longer than the lock', () => {
    expect(() => loadConfig({ LOCK_DURATION_MS: '1000', STALLED_INTERVAL_MS: '5000' })).toThrow(/STALLED_INTERVAL_MS/);
  });

  it('masks secrets in the summary', () => {
    const summary = summarizeConfig(loadConfig({ API_KEYS: 'secret-key', MONGODB_URL: 'mongodb://u:pw@h:1/' }));
    const text = JSON.stringify(summary);
    expect(text).not.toContain('secret-key');
    expect(text).not.toContain(':pw@');
  });

  it('an entrypoint exits 1 with one line naming the bad variable', () => {
    const res = spawnSync('npx', ['tsx', 'src/tools/check-config.ts'], {
      env: { ...process.env, INFERENCE_BATCH_SIZE: 'lots', REDIS_URL: '' },
      encoding: 'utf8',
    });
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/^ {2}INFERENCE_BATCH_SIZE: expected an integer/m);
  });

  it('README documents every variable', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const missing = CONFIG_VARIABLES.filter((name) => !readme.includes(`| \`${name}\` |`));
    expect(missing).toEqual([]);
  });
});
