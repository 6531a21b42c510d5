/**
 * The chaos driver: at seeded random intervals, one fault at a time —
 * kill -9 a worker, SIGTERM a worker, restart redis-server, restart
 * FerretDB, wipe Redis (FLUSHALL), fill the workers' temp folder — and how
 * long the system took to recover from it. A fault's recovery is awaited
 * (bounded) before the next one, so measurements do not overlap.
 */
import { execFile } from 'node:child_process';
import { statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Queue } from 'bullmq';
import type { LogLine, ServiceProcess } from '../../test/helpers/processes.js';
import type { Stack } from '../../test/helpers/stack.js';
import { findLine, heldJob, type HeldJob, sleep, waitForLine } from './logs.js';
import type { Rng } from './prng.js';
import type { WorkerPool } from './worker-pool.js';

export const FAULT_KINDS = ['kill9', 'sigterm', 'redis', 'ferretdb', 'flushall', 'diskfull'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export const FAULT_LABELS: Record<FaultKind, { name: string; measure: string }> = {
  kill9: { name: 'worker kill -9', measure: "kill → the killed worker's job 'job started' on another worker" },
  sigterm: { name: 'worker SIGTERM', measure: 'hand-back → the job resumed on another worker' },
  redis: { name: 'redis-server restart', measure: 'redis back up → a job picked up or advancing in Redis' },
  ferretdb: { name: 'FerretDB restart', measure: "FerretDB back up → the next 'chunk saved'" },
  flushall: { name: 'Redis data loss (FLUSHALL)', measure: "FLUSHALL → the reconciler's first re-enqueue picked up ('job started')" },
  diskfull: { name: 'temp folder full', measure: "space back → the next audio decoded by a worker" },
};

export interface FaultRecord {
  kind: FaultKind;
  /** When the fault was injected, ms since the epoch. */
  at: number;
  target: string;
  /** The job the victim worker held (worker faults). */
  job?: HeldJob;
  /** Recovery time, ms; undefined when not applicable or not seen within the bound. */
  recoveryMs?: number;
  /** Server downtime or SIGTERM-to-exit time, ms. */
  outageMs?: number;
  /** kill -9: kill → the job moved back to wait by stall detection, ms. */
  stallDetectedMs?: number;
  note: string;
}

export interface ChaosOptions {
  stack: Stack;
  pool: WorkerPool;
  rng: Rng;
  /** No fault is injected at or after this time (ms since the epoch). */
  stopAt: number;
  /** Pause between faults, seconds. */
  gapSec: [number, number];
  /** Longest wait for one fault's recovery, ms. */
  recoveryBoundMs: number;
  /** False once every meeting is finished: no fault then (nothing could recover). */
  hasWork: () => boolean;
  /** The workers' TEMP_DIR when it is a folder of its own that may be filled up; 'diskfull' is skipped without it. */
  tempDir?: string;
  signal: AbortSignal;
  log: (text: string) => void;
}

/** Runs faults until `stopAt`; returns what happened, one record per fault. */
export async function runChaos(o: ChaosOptions): Promise<FaultRecord[]> {
  const records: FaultRecord[] = [];
  let deck: FaultKind[] = [];
  const draw = (): FaultKind => {
    if (deck.length === 0) deck = o.rng.shuffle(FAULT_KINDS);
    return deck.shift()!;
  };
  for (;;) {
    const gapMs = o.rng.between(o.gapSec[0], o.gapSec[1]) * 1000;
    if (Date.now() + gapMs >= o.stopAt) break;
    await sleep(gapMs, o.signal);
    if (o.signal.aborted || !o.hasWork()) break;
    let kind = draw();
    if (kind === 'diskfull' && !o.tempDir) kind = draw();
    // Never leave fewer than one worker consuming.
    if ((kind === 'kill9' || kind === 'sigterm') && o.pool.running().length < 2) {
      o.log(`skipping ${kind}: only ${o.pool.running().length} worker(s) consuming`);
      deck.push(kind);
      kind = o.rng.next() < 0.5 ? 'redis' : 'ferretdb';
    }
    const record = await inject(kind, o);
    records.push(record);
    const took = record.recoveryMs === undefined ? 'n/a' : `${(record.recoveryMs / 1000).toFixed(2)} s`;
    o.log(`fault ${records.length}: ${FAULT_LABELS[kind].name} on ${record.target} — recovery ${took} (${record.note})`);
  }
  return records;
}

function inject(kind: FaultKind, o: ChaosOptions): Promise<FaultRecord> {
  switch (kind) {
    case 'kill9':
      return killWorker(o);
    case 'sigterm':
      return stopWorker(o);
    case 'redis':
      return restartRedis(o);
    case 'ferretdb':
      return restartFerret(o);
    case 'flushall':
      return flushRedis(o);
    case 'diskfull':
      return fillTempDir(o);
  }
}

/** A busy worker if there is one (a fault mid-job is the interesting case), else any. */
function pickVictim(o: ChaosOptions): ServiceProcess {
  const running = o.pool.running();
  const busy = running.filter((p) => heldJob(p));
  return o.rng.pick(busy.length > 0 ? busy : running);
}

const pickedUp = (meetingId: string) => (l: LogLine) =>
  l.meetingId === meetingId && (l.msg === 'job started' || l.msg === 'meeting is no longer live; job has nothing to do');

async function killWorker(o: ChaosOptions): Promise<FaultRecord> {
  const victim = pickVictim(o);
  o.pool.expectExit(victim);
  const at = Date.now();
  victim.signal('SIGKILL');
  await victim.exited;
  // The log is final now: what it held at the moment it died.
  const job = heldJob(victim);
  o.pool.replace(victim, o.rng.between(1000, 3000));
  if (!job) return { kind: 'kill9', at, target: victim.name, note: 'worker was idle' };
  const others = () => o.pool.all().filter((p) => p !== victim);
  const found = await waitForLine(others, pickedUp(job.meetingId), at, at + o.recoveryBoundMs, o.signal);
  const record: FaultRecord = { kind: 'kill9', at, target: victim.name, job, note: `held ${job.meetingId} (${job.chunksSaved} chunk(s) saved by it)` };
  const stalled = findLine(others(), (l) => typeof l.msg === 'string' && l.msg.startsWith('stalled job moved back') && l.jobId === job.jobId, at);
  if (stalled) {
    record.stallDetectedMs = Number(stalled.line.time) - at;
    record.note += `; stall detected after ${(record.stallDetectedMs / 1000).toFixed(2)} s`;
  }
  if (found) {
    record.recoveryMs = Number(found.line.time) - at;
    record.note += `; resumed on ${found.proc.name} (attempt ${found.line.attempt ?? '?'}, ${found.line.resumedChunks ?? 0} chunk(s) skipped)`;
  } else record.note += '; NOT resumed within the bound';
  return record;
}

async function stopWorker(o: ChaosOptions): Promise<FaultRecord> {
  const victim = pickVictim(o);
  const before = heldJob(victim);
  o.pool.expectExit(victim);
  const at = Date.now();
  victim.signal('SIGTERM');
  const graceMs = Number(o.stack.env.SHUTDOWN_GRACE_MS ?? 30_000);
  const exit = await Promise.race([victim.exited, sleep(graceMs + 10_000, o.signal).then(() => undefined)]);
  if (!exit) victim.signal('SIGKILL');
  const exitAt = exit?.at ?? Date.now();
  o.pool.replace(victim, 0);
  const record: FaultRecord = { kind: 'sigterm', at, target: victim.name, outageMs: exitAt - at, note: '' };
  const exitNote = exit ? `exit code ${exit.code} after ${((exitAt - at) / 1000).toFixed(1)} s` : 'DID NOT EXIT within grace + 10 s (killed)';
  const handBack = victim.logs().find((l) => l.msg === 'job handed back to the queue (shutdown)' && Number(l.time) >= at);
  if (!handBack) {
    record.note = `${before ? `held ${before.meetingId} but handed nothing back (finished first?)` : 'worker was idle'}; ${exitNote}`;
    return record;
  }
  const meetingId = String(handBack.meetingId);
  record.job = before;
  const handedAt = Number(handBack.time);
  const others = () => o.pool.all().filter((p) => p !== victim);
  const found = await waitForLine(others, pickedUp(meetingId), handedAt, handedAt + o.recoveryBoundMs, o.signal);
  record.note = `handed back ${meetingId}; ${exitNote}`;
  if (found) {
    record.recoveryMs = Number(found.line.time) - handedAt;
    record.note += `; resumed on ${found.proc.name} (${found.line.resumedChunks ?? 0} chunk(s) skipped)`;
  } else record.note += '; NOT resumed within the bound';
  return record;
}

async function restartRedis(o: ChaosOptions): Promise<FaultRecord> {
  const at = Date.now();
  const downMs = o.rng.between(1000, 3000);
  await o.stack.redis.stop();
  await sleep(downMs, o.signal);
  await o.stack.redis.start();
  const upAt = Date.now();
  const record: FaultRecord = { kind: 'redis', at, target: 'redis-server', outageMs: upAt - at, note: '' };
  const stopPolling = new AbortController();
  const polling = AbortSignal.any([o.signal, stopPolling.signal]);
  const viaLog = waitForLine(() => o.pool.all(), (l) => l.msg === 'job started', upAt, upAt + o.recoveryBoundMs, polling)
    .then((f) => (f ? { at: Number(f.line.time), how: `job started on ${f.proc.name}` } : undefined));
  const viaRedis = progressAdvances([o.stack.regular, o.stack.large], upAt + o.recoveryBoundMs, polling);
  const first = await firstDefined([viaLog, viaRedis]);
  stopPolling.abort();
  if (first) {
    record.recoveryMs = first.at - upAt;
    record.note = `down ${(downMs / 1000).toFixed(1)} s; ${first.how}`;
  } else record.note = `down ${(downMs / 1000).toFixed(1)} s; no job picked up or advancing within the bound`;
  return record;
}

async function restartFerret(o: ChaosOptions): Promise<FaultRecord> {
  const at = Date.now();
  const downMs = o.rng.between(1000, 3000);
  await o.stack.mongo.stop();
  await sleep(downMs, o.signal);
  await o.stack.mongo.start();
  const upAt = Date.now();
  const record: FaultRecord = { kind: 'ferretdb', at, target: 'ferretdb', outageMs: upAt - at, note: '' };
  const found = await waitForLine(() => o.pool.all(), (l) => l.msg === 'chunk saved', upAt, upAt + o.recoveryBoundMs, o.signal);
  if (found) {
    record.recoveryMs = Number(found.line.time) - upAt;
    record.note = `down ${(downMs / 1000).toFixed(1)} s; chunk saved by ${found.proc.name}`;
  } else record.note = `down ${(downMs / 1000).toFixed(1)} s; no chunk saved within the bound`;
  return record;
}

/** Every key gone at once (a Redis restarted without its AOF): MongoDB's requests are all that is left. */
async function flushRedis(o: ChaosOptions): Promise<FaultRecord> {
  const at = Date.now();
  await o.stack.redisClient.flushall();
  const record: FaultRecord = { kind: 'flushall', at, target: 'redis-server', note: '' };
  const reenqueued = await waitForLine(
    () => [...o.stack.processes],
    (l) => l.msg === 'reconciler enqueued a live meeting without a live job',
    at,
    at + o.recoveryBoundMs,
    o.signal,
  );
  if (!reenqueued) {
    record.note = 'no live meeting re-enqueued within the bound (none was live?)';
    return record;
  }
  const meetingId = String(reenqueued.line.meetingId);
  const found = await waitForLine(() => o.pool.all(), pickedUp(meetingId), at, at + o.recoveryBoundMs, o.signal);
  record.note = `${meetingId} re-enqueued by ${reenqueued.proc.name} after ${((Number(reenqueued.line.time) - at) / 1000).toFixed(2)} s`;
  if (found) {
    record.recoveryMs = Number(found.line.time) - at;
    record.note += `; picked up by ${found.proc.name}`;
  } else record.note += '; NOT picked up within the bound';
  return record;
}

const run = promisify(execFile);

/** Fills the temp folder to its last MiB for a few seconds; decodes in that window are refused and wait. */
async function fillTempDir(o: ChaosOptions): Promise<FaultRecord> {
  const dir = o.tempDir!;
  const filler = join(dir, 'chaos-filler');
  const fs = await statfs(dir);
  const fillBytes = Math.max(0, fs.bavail * fs.bsize - 1024 * 1024);
  const at = Date.now();
  await run('fallocate', ['-l', String(fillBytes), filler]);
  const fullMs = o.rng.between(3000, 8000);
  await sleep(fullMs, o.signal);
  await unlink(filler);
  const freedAt = Date.now();
  const record: FaultRecord = { kind: 'diskfull', at, target: 'worker temp folder', outageMs: freedAt - at, note: '' };
  const refused = o.pool.all().reduce((n, w) => n + w.logs().filter((l) => Number(l.time) >= at && String(l.msg).startsWith('not enough disk space')).length, 0);
  const found = await waitForLine(() => o.pool.all(), (l) => l.msg === 'audio decoded', freedAt, freedAt + o.recoveryBoundMs, o.signal);
  record.note = `full ${(fullMs / 1000).toFixed(1)} s (${Math.round(fillBytes / 1048576)} MiB filler); ${refused} attempt(s) delayed for space`;
  if (found) {
    record.recoveryMs = Number(found.line.time) - freedAt;
    record.note += `; next decode on ${found.proc.name}`;
  } else record.note += '; no decode within the bound';
  return record;
}

/**
 * Polls the queues' active jobs every 200 ms; resolves when a job becomes
 * active that was not, or an active job's progress goes up.
 */
async function progressAdvances(queues: Queue[], untilMs: number, signal: AbortSignal): Promise<{ at: number; how: string } | undefined> {
  let baseline: Map<string, number> | undefined;
  while (Date.now() < untilMs && !signal.aborted) {
    const seen = await activeProgress(queues);
    if (seen) {
      if (!baseline) baseline = seen;
      else {
        for (const [id, progress] of seen) {
          const before = baseline.get(id);
          if (before === undefined) return { at: Date.now(), how: `${id} became active in Redis` };
          if (progress > before) return { at: Date.now(), how: `${id} progress ${before} → ${progress} in Redis` };
        }
      }
    }
    await sleep(200, signal);
  }
  return undefined;
}

async function activeProgress(queues: Queue[]): Promise<Map<string, number> | undefined> {
  const read = (async () => {
    const out = new Map<string, number>();
    for (const q of queues) {
      for (const job of await q.getJobs(['active'])) if (job?.id) out.set(job.id, typeof job.progress === 'number' ? job.progress : 0);
    }
    return out;
  })();
  return Promise.race([read.catch(() => undefined), sleep(1000).then(() => undefined)]);
}

/** The first promise to resolve with a value; undefined when all resolve empty. */
function firstDefined<T>(promises: Promise<T | undefined>[]): Promise<T | undefined> {
  return new Promise((resolve) => {
    let left = promises.length;
    for (const p of promises) {
      void p.then((v) => {
        if (v !== undefined) resolve(v);
        else if (--left === 0) resolve(undefined);
      });
    }
  });
}
