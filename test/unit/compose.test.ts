import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

interface Service {
  image?: string;
  command?: string[] | string;
  environment?: Record<string, string>;
  volumes?: Array<string | { type: string; source: string; target: string; read_only?: boolean }>;
  healthcheck?: { test?: string[] | string; disable?: boolean };
  stop_grace_period?: string;
  profiles?: string[];
  restart?: string;
  deploy?: { resources?: { reservations?: { devices?: Array<{ driver?: string; device_ids?: string[]; count?: number | string; capabilities?: string[] }> } } };
}

const composeText = readFileSync('docker-compose.gpu.yml', 'utf8');
// Compose resolves YAML merge keys (<<: *anchor); so does this parse.
const compose = parse(composeText, { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const envExampleText = readFileSync('.env.example', 'utf8');

/** Active `NAME=value` lines of .env.example. */
const envExample = new Map(
  envExampleText
    .split('\n')
    .map((line) => /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1], m[2]]),
);

/** Compose interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, $$ escapes. */
function interpolate(value: string, env: Map<string, string>): string {
  return value.replace(/\$\$|\$\{(\w+)(?:(:?)([-?])([^}]*))?\}/g, (match, name: string | undefined, colon: string, op: string, arg: string) => {
    if (match === '$$') return '$';
    const set = env.get(name as string);
    const missing = colon ? set === undefined || set === '' : set === undefined;
    if (op === '-' && missing) return arg;
    if (op === '?' && missing) throw new Error(`${name}: ${arg}`);
    return set ?? '';
  });
}

/** Compose durations: 45s, 1m30s, 1h, 500ms. */
function durationMs(text: string): number {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|us|s|m|h)/g)];
  expect(parts.map((p) => p[0]).join(''), `duration ${text}`).toBe(text);
  const unit: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  return parts.reduce((sum, p) => sum + Number(p[1]) * unit[p[2]], 0);
}

const services = compose.services;
const workers = Object.entries(services).filter(([name]) => name.startsWith('worker'));
const longRunning = Object.entries(services).filter(([, s]) => !s.profiles?.length);
const noEnv = new Map<string, string>();

function mounts(service: Service): Array<{ source: string; target: string; read_only?: boolean }> {
  return (service.volumes ?? []).map((v) => {
    if (typeof v !== 'string') return v;
    const [source, target, mode] = v.split(':');
    return { source, target, read_only: mode === 'ro' };
  });
}

describe('docker-compose.gpu.yml', () => {
  it('defines api, redis, mongo and at least one worker', () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(['api', 'redis', 'mongo']));
    expect(workers.length).toBeGreaterThanOrEqual(1);
  });

  it('reserves one distinct NVIDIA GPU for each worker', () => {
    const ids: string[] = [];
    for (const [name, worker] of workers) {
      const devices = worker.deploy?.resources?.reservations?.devices ?? [];
      expect(devices, name).toHaveLength(1);
      const [device] = devices;
      expect(device.driver, name).toBe('nvidia');
      expect(device.capabilities, name).toContain('gpu');
      expect(device.device_ids, name).toHaveLength(1);
      ids.push(interpolate(device.device_ids![0], envExample));
      // Inside the container the reserved GPU is device 0, whatever its host index.
      expect(worker.environment?.CUDA_VISIBLE_DEVICES, name).toBe('0');
    }
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('gives workers a stop_grace_period longer than SHUTDOWN_GRACE_MS (compose default and .env.example)', () => {
    for (const [name, worker] of workers) {
      const grace = durationMs(worker.stop_grace_period ?? '10s');
      const shutdown = worker.environment?.SHUTDOWN_GRACE_MS;
      expect(shutdown, name).toBeDefined();
      const withDefaults = Number(interpolate(shutdown!, noEnv));
      const withExample = Number(interpolate(shutdown!, envExample));
      expect(withDefaults, name).toBeGreaterThan(0);
      expect(withExample, name).toBeGreaterThan(0);
      // Room for the hand-back and closing Redis/MongoDB after the grace timer fires.
      expect(grace, name).toBeGreaterThanOrEqual(withDefaults + 5000);
      expect(grace, name).toBeGreaterThanOrEqual(withExample + 5000);
    }
  });

  it('runs Redis with AOF fsynced every second and no eviction', () => {
    const redis = services.redis;
    expect(redis.image).toMatch(/^redis:7/);
    const command = Array.isArray(redis.command) ? redis.command.join(' ') : (redis.command ?? '');
    expect(command).toMatch(/--appendonly yes\b/);
    expect(command).toMatch(/--appendfsync everysec\b/);
    expect(command).toMatch(/--maxmemory-policy noeviction\b/);
  });

  it('runs MongoDB 7 as a single-node replica set that the healthcheck initiates once', () => {
    const mongo = services.mongo;
    expect(mongo.image).toMatch(/^mongo:7/);
    expect((mongo.command as string[]).join(' ')).toContain('--replSet rs0');
    const test = (mongo.healthcheck?.test as string[]).join(' ');
    expect(test).toMatch(/try \{ rs\.status\(\) \} catch \(e\) \{ rs\.initiate\(\{ _id: 'rs0'/);
    expect(test).toContain('isWritablePrimary');
    expect(interpolate(services.api.environment!.MONGODB_URL, noEnv)).toContain('replicaSet=rs0');
    expect(interpolate(services.api.environment!.MONGODB_URL, envExample)).toContain('replicaSet=rs0');
  });

  it('keeps state in named volumes: redis, mongo, models, audio', () => {
    const named = Object.keys(compose.volumes);
    expect(named).toEqual(expect.arrayContaining(['redis-data', 'mongo-data', 'models', 'audio']));
    expect(mounts(services.redis)).toContainEqual(expect.objectContaining({ source: 'redis-data', target: '/data' }));
    expect(mounts(services.mongo)).toContainEqual(expect.objectContaining({ source: 'mongo-data', target: '/data/db' }));
    expect(mounts(services.api)).toContainEqual(expect.objectContaining({ source: 'audio', target: '/data/audio' }));
    for (const [name, worker] of workers) {
      expect(mounts(worker), name).toContainEqual(expect.objectContaining({ source: 'models', target: '/models', read_only: true }));
      expect(mounts(worker), name).toContainEqual(expect.objectContaining({ source: 'audio', target: '/data/audio' }));
    }
    for (const service of Object.values(services)) {
      for (const m of mounts(service)) {
        if (!m.source.startsWith('.') && !m.source.startsWith('/') && !m.source.startsWith('$')) expect(named).toContain(m.source);
      }
    }
  });

  it('gives every long-running service a healthcheck; one-shot tools sit behind a profile', () => {
    for (const [name, service] of longRunning) {
      expect(service.healthcheck?.disable, name).not.toBe(true);
      const test = service.healthcheck?.test;
      expect(Array.isArray(test) ? test.length : (test ?? '').length, name).toBeGreaterThan(0);
    }
    for (const [name, service] of Object.entries(services).filter(([, s]) => s.profiles?.length)) {
      expect(service.profiles, name).toEqual(['tools']);
      expect(service.restart, name).toBe('no');
    }
    for (const name of ['api', ...workers.map(([n]) => n)]) {
      expect(JSON.stringify(services[name].healthcheck?.test), name).toContain('/healthz');
    }
  });

  it('lists every interpolated variable in .env.example', () => {
    const referenced = new Set([...composeText.matchAll(/\$\{(\w+)/g)].map((m) => m[1]));
    expect(referenced.size).toBeGreaterThan(10);
    const missing = [...referenced].filter((name) => !envExample.has(name));
    expect(missing).toEqual([]);
    // And the whole file interpolates once API_KEYS is set (it is required on purpose).
    const filled = new Map(envExample);
    expect(() => interpolate(composeText, filled)).toThrow(/API_KEYS/);
    filled.set('API_KEYS', 'k1,k2');
    expect(() => interpolate(composeText, filled)).not.toThrow();
  });

  it('documents every setting of src/core/config.ts (and CUDA_VISIBLE_DEVICES) in .env.example', () => {
    const config = readFileSync('src/core/config.ts', 'utf8');
    const schema = config.slice(config.indexOf('z.object({'));
    const settings = [...schema.matchAll(/^ {2}([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]);
    expect(settings).toEqual(expect.arrayContaining(['API_KEYS', 'REDIS_URL', 'MONGODB_URL', 'MODEL', 'SHUTDOWN_GRACE_MS', 'WORKER_METRICS_PORT']));
    settings.push('CUDA_VISIBLE_DEVICES');
    const undocumented = settings.filter((name) => !new RegExp(`^(# )?${name}=`, 'm').test(envExampleText));
    expect(undocumented).toEqual([]);
  });

  it('passes the worker settings to every worker and the API settings to the api', () => {
    for (const [name, worker] of workers) {
      for (const key of ['REDIS_URL', 'MONGODB_URL', 'MODEL', 'MODELS_DIR', 'MODEL_VARIANT', 'EXECUTION_PROVIDER', 'SHUTDOWN_GRACE_MS', 'LOCK_DURATION_MS', 'STALLED_INTERVAL_MS', 'MAX_STALLED_COUNT', 'FFMPEG_PATH', 'FFPROBE_PATH', 'WORKER_METRICS_PORT']) {
        expect(worker.environment, `${name} ${key}`).toHaveProperty(key);
      }
    }
    for (const key of ['PORT', 'API_KEYS', 'REDIS_URL', 'MONGODB_URL', 'STORAGE_DIR', 'AUDIO_ROOT', 'MAX_UPLOAD_BYTES', 'JOB_ATTEMPTS', 'JOB_BACKOFF_MS']) {
      expect(services.api.environment, key).toHaveProperty(key);
    }
  });
});

describe('docs/prometheus-alerts.yml', () => {
  const rules = (parse(readFileSync('docs/prometheus-alerts.yml', 'utf8')) as { groups: Array<{ name: string; rules: Array<Record<string, unknown>> }> }).groups.flatMap(
    (g) => g.rules,
  ) as Array<{ alert: string; expr: string; for?: string; labels: { severity: string }; annotations: Record<string, string> }>;
  const metrics = [
    'meno_queue_jobs', 'meno_job_duration_seconds', 'meno_realtime_factor', 'meno_chunks_total', 'meno_job_retries_total',
    'meno_job_stalls_total', 'meno_job_failures_total', 'meno_event_loop_lag_seconds', 'meno_worker_up', 'meno_worker_busy',
    'meno_webhook_attempts_total',
  ];
  const histogramSuffix = /_(bucket|sum|count)$/;

  function checkExpression(expr: string): void {
    let depth = 0;
    for (const ch of expr.replace(/"[^"]*"/g, '""')) {
      if ('({['.includes(ch)) depth += 1;
      if (')}]'.includes(ch)) depth -= 1;
      expect(depth, expr).toBeGreaterThanOrEqual(0);
    }
    expect(depth, expr).toBe(0);
    for (const [name] of expr.matchAll(/\bmeno_\w+/g)) {
      expect(metrics, `${name} in ${expr}`).toContain(name.replace(histogramSuffix, ''));
    }
    for (const [, matchers] of expr.matchAll(/\{([^}]*)\}/g)) {
      for (const matcher of matchers.split(',').filter((m) => m.trim() !== '')) {
        expect(matcher.trim(), expr).toMatch(/^\w+\s*(=|!=|=~|!~)\s*"[^"]*"$/);
      }
    }
    expect(expr, 'an alert expression compares').toMatch(/(>|<|==|!=)\s*[\d.]+/);
  }

  it('has well-formed rules on the exported metric names', () => {
    expect(rules.length).toBeGreaterThanOrEqual(2);
    for (const rule of rules) {
      expect(rule.alert).toMatch(/^[A-Z][A-Za-z0-9]+$/);
      expect(['warning', 'critical']).toContain(rule.labels.severity);
      expect(rule.annotations.summary).toBeTruthy();
      expect(rule.annotations.runbook).toMatch(/^docs\/runbook\.md#[a-z-]+$/);
      if (rule.for !== undefined) expect(rule.for).toMatch(/^\d+[smh]$/);
      checkExpression(rule.expr);
    }
  });

  it('alerts on more than 10 failed jobs', () => {
    const rule = rules.find((r) => /meno_queue_jobs\{state="failed"\}/.test(r.expr));
    expect(rule?.expr).toMatch(/meno_queue_jobs\{state="failed"\}\)?\s*>\s*10\b/);
  });

  it('alerts when jobs wait and no job is active', () => {
    const rule = rules.find((r) => r.expr.includes('state="waiting"'));
    expect(rule?.expr).toMatch(/meno_queue_jobs\{state="waiting"\}\)\s*>\s*0\s+and on \(queue\)\s+max by \(queue\) \(meno_queue_jobs\{state="active"\}\)\s*==\s*0/);
  });

  it('links every runbook anchor to a heading of docs/runbook.md', () => {
    const runbook = readFileSync('docs/runbook.md', 'utf8');
    const anchors = new Set(
      [...runbook.matchAll(/^#{1,4} (.+)$/gm)].map((m) => m[1].toLowerCase().replace(/[^a-z0-9 -]/g, '').trim().replace(/ /g, '-')),
    );
    for (const rule of rules) expect(anchors, rule.annotations.runbook).toContain(rule.annotations.runbook.split('#')[1]);
  });
});
