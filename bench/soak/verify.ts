/**
 * The soak's verdict, read from MongoDB, Redis, the API and the workers'
 * logs once the load has drained: what finished, what was lost or stuck,
 * duplicate segments, inconsistent checkpoints and redone chunks.
 */
import type { Queue } from 'bullmq';
import type { Db } from 'mongodb';
import { jobIdFor } from '../../src/core/queues.js';
import type { LogLine, ServiceProcess } from '../../test/helpers/processes.js';
import type { Stack } from '../../test/helpers/stack.js';
import { sleep } from './logs.js';
import { PROJECT, type Submission } from './workload.js';

interface MeetingRow {
  _id: string;
  transcriptionStatus: string;
  plan?: { chunks: unknown[] };
  doneChunks?: number[];
  completedAt?: Date;
  metadata?: { transcription?: { errorMessage?: string; code?: string; attempts?: number } };
}

export interface Verdict {
  submitted: number;
  /** Meetings whose register or start never succeeded (listed with the error). */
  notSubmitted: string[];
  completed: number;
  failed: { meetingId: string; reason: string }[];
  /** Neither completed nor failed, and no live job in either queue. */
  lost: string[];
  /** Neither completed nor failed, with a live job still at the end. */
  stuck: string[];
  /** (meetingId, chunk, index) keys present more than once: extra copies. */
  keyDuplicates: number;
  /** Same (meetingId, start, text) more than once: extra copies. */
  textDuplicates: number;
  /** Completed meetings whose checkpoints disagree with the plan or the saved segments. */
  inconsistent: { meetingId: string; why: string }[];
  /** Completed meetings without a single segment (every clip has speech). */
  emptyTranscripts: string[];
  /** (meeting, chunk) pairs saved by more than one pickup, and the extra saves. */
  chunksRedone: { pairs: number; extraSaves: number };
  /** Start request → completed, ms, per kind. */
  latencyMs: { short: number[]; long: number[] };
  /** Meetings whose status through the API differs from MongoDB's. */
  apiMismatches: string[];
  queueMetrics?: unknown;
  /** Log-derived event counts. */
  events: Record<string, number>;
}

const LIVE_JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children'];

async function meetingRows(db: Db, ids: string[]): Promise<Map<string, MeetingRow>> {
  const rows = await db
    .collection<MeetingRow>('meetings')
    .find({ _id: { $in: ids } }, { projection: { transcriptionStatus: 1, plan: 1, doneChunks: 1, completedAt: 1, metadata: 1 } })
    .toArray();
  return new Map(rows.map((r) => [r._id, r]));
}

/** Status per meeting id (missing meetings absent), for the drain loop. */
export async function statuses(db: Db, ids: string[]): Promise<Map<string, string>> {
  const rows = await meetingRows(db, ids);
  return new Map([...rows].map(([id, r]) => [id, r.transcriptionStatus]));
}

async function jobState(queues: Queue[], meetingId: string): Promise<string> {
  for (const q of queues) {
    const job = await q.getJob(jobIdFor(meetingId));
    if (job) return job.getState();
  }
  return 'missing';
}

/** Groups with more than one document, via an aggregate; returns the number of extra copies. */
async function extraCopies(db: Db, ids: string[], key: Record<string, string>): Promise<number> {
  const groups = await db
    .collection('segments')
    .aggregate<{ n: number }>([{ $match: { meetingId: { $in: ids } } }, { $group: { _id: key, n: { $sum: 1 } } }, { $match: { n: { $gt: 1 } } }])
    .toArray();
  return groups.reduce((sum, g) => sum + g.n - 1, 0);
}

export function countEvents(procs: readonly ServiceProcess[]): Record<string, number> {
  const reenqueue = 'reconciler enqueued a live meeting without a live job';
  const counters: [string, (l: LogLine) => boolean][] = [
    ['stalled jobs moved back', (l) => String(l.msg).startsWith('stalled job moved back')],
    ['jobs handed back (SIGTERM)', (l) => l.msg === 'job handed back to the queue (shutdown)'],
    ['zombie writers stopped (epoch fence)', (l) => l.msg === 'another worker took over this meeting; stopping without writing'],
    ['attempts failed, retried', (l) => String(l.msg).startsWith('job attempt failed')],
    ['jobs failed for good', (l) => l.msg === 'job failed for good'],
    ['reconciler re-enqueues, job missing (deferred starts)', (l) => l.msg === reenqueue && l.previous === 'missing'],
    ['reconciler re-enqueues, job already finished', (l) => l.msg === reenqueue && l.previous !== 'missing'],
    ['redundant pickups (meeting no longer live)', (l) => l.msg === 'meeting is no longer live; job has nothing to do'],
    ["worker 'could not renew lock' errors", (l) => l.msg === 'worker error' && String((l.err as { message?: string } | undefined)?.message).startsWith('could not renew lock')],
    ['other worker errors logged', (l) => l.msg === 'worker error' && !String((l.err as { message?: string } | undefined)?.message).startsWith('could not renew lock')],
  ];
  const out: Record<string, number> = Object.fromEntries(counters.map(([k]) => [k, 0]));
  for (const p of procs) {
    for (const l of p.logs()) {
      if (typeof l.msg !== 'string') continue;
      for (const [name, test] of counters) if (test(l)) out[name]++;
    }
  }
  return out;
}

export function chunksRedone(workers: readonly ServiceProcess[]): { pairs: number; extraSaves: number } {
  const saves = new Map<string, number>();
  for (const w of workers) {
    for (const l of w.logs()) if (l.msg === 'chunk saved') saves.set(`${l.meetingId}:${l.chunk}`, (saves.get(`${l.meetingId}:${l.chunk}`) ?? 0) + 1);
  }
  let pairs = 0;
  let extraSaves = 0;
  for (const n of saves.values()) {
    if (n > 1) {
      pairs++;
      extraSaves += n - 1;
    }
  }
  return { pairs, extraSaves };
}

export async function verify(stack: Stack, subs: Submission[], workers: readonly ServiceProcess[], allProcs: readonly ServiceProcess[]): Promise<Verdict> {
  const submittedSubs = subs.filter((s) => s.startRequestedAt !== undefined);
  const ids = submittedSubs.map((s) => s.meetingId);
  const queues = [stack.regular, stack.large];
  const rows = await meetingRows(stack.db, ids);
  const verdict: Verdict = {
    submitted: ids.length,
    notSubmitted: subs.filter((s) => s.startRequestedAt === undefined).map((s) => `${s.meetingId}: ${s.error ?? 'not submitted'}`),
    completed: 0,
    failed: [],
    lost: [],
    stuck: [],
    keyDuplicates: await extraCopies(stack.db, ids, { m: '$meetingId', c: '$chunk', i: '$index' }),
    textDuplicates: await extraCopies(stack.db, ids, { m: '$meetingId', s: '$start', t: '$text' }),
    inconsistent: [],
    emptyTranscripts: [],
    chunksRedone: chunksRedone(workers),
    latencyMs: { short: [], long: [] },
    apiMismatches: [],
    events: countEvents(allProcs),
  };

  const unfinished: string[] = [];
  for (const sub of submittedSubs) {
    const row = rows.get(sub.meetingId);
    const status = row?.transcriptionStatus ?? 'missing';
    if (status === 'completed') {
      verdict.completed++;
      if (row?.completedAt) verdict.latencyMs[sub.kind].push(row.completedAt.getTime() - sub.startRequestedAt!);
    } else if (status === 'failed') {
      const t = row?.metadata?.transcription;
      verdict.failed.push({ meetingId: sub.meetingId, reason: `${t?.code ?? ''} ${t?.errorMessage ?? 'no failure metadata'} (attempts ${t?.attempts ?? '?'})`.trim() });
    } else unfinished.push(sub.meetingId);
  }

  // Lost vs stuck: a job may be between states (the reconciler re-adds a missing one within RECONCILE_INTERVAL_MS), so a jobless meeting is looked at twice.
  const firstLook = new Map<string, string>();
  for (const id of unfinished) firstLook.set(id, await jobState(queues, id));
  if ([...firstLook.values()].some((s) => !LIVE_JOB_STATES.includes(s))) await sleep(3000);
  for (const id of unfinished) {
    const state = LIVE_JOB_STATES.includes(firstLook.get(id)!) ? firstLook.get(id)! : await jobState(queues, id);
    const status = (await statuses(stack.db, [id])).get(id) ?? 'missing';
    if (status === 'completed' || status === 'failed') continue;
    if (LIVE_JOB_STATES.includes(state)) verdict.stuck.push(`${id} (${status}, job ${state})`);
    else verdict.lost.push(`${id} (${status}, job ${state})`);
  }

  // Checkpoints of completed meetings: every planned chunk done, and no segment outside a done chunk.
  const segs = await stack.db
    .collection<{ meetingId: string; chunk: number }>('segments')
    .find({ meetingId: { $in: ids } }, { projection: { meetingId: 1, chunk: 1 } })
    .toArray();
  const chunksWithSegments = new Map<string, Set<number>>();
  for (const s of segs) {
    if (!chunksWithSegments.has(s.meetingId)) chunksWithSegments.set(s.meetingId, new Set());
    chunksWithSegments.get(s.meetingId)!.add(s.chunk);
  }
  for (const [id, row] of rows) {
    if (row.transcriptionStatus !== 'completed') continue;
    const done = new Set(row.doneChunks ?? []);
    const withSegs = chunksWithSegments.get(id) ?? new Set<number>();
    if (withSegs.size === 0) verdict.emptyTranscripts.push(id);
    const planned = row.plan?.chunks.length;
    if (planned === undefined || done.size !== planned) verdict.inconsistent.push({ meetingId: id, why: `${done.size} chunk(s) checkpointed of ${planned ?? '?'} planned` });
    else if ((row.doneChunks ?? []).length !== done.size) verdict.inconsistent.push({ meetingId: id, why: 'a chunk checkpointed twice' });
    const orphans = [...withSegs].filter((c) => !done.has(c));
    if (orphans.length > 0) verdict.inconsistent.push({ meetingId: id, why: `segments in chunk(s) ${orphans.join(',')} that are not checkpointed` });
  }

  // What a client sees: the API's status must agree with MongoDB.
  for (const id of ids) {
    try {
      const res = await stack.api(`/api/projects/${PROJECT}/meetings/${id}/transcription`);
      const body = (await res.json()) as { status?: string };
      const dbStatus = rows.get(id)?.transcriptionStatus;
      const now = (await statuses(stack.db, [id])).get(id);
      if (body.status !== now) verdict.apiMismatches.push(`${id}: API ${body.status ?? res.status}, MongoDB ${now ?? dbStatus}`);
    } catch (err) {
      verdict.apiMismatches.push(`${id}: ${(err as Error).message}`);
    }
  }
  try {
    verdict.queueMetrics = await (await stack.api('/api/queues/metrics')).json();
  } catch (err) {
    verdict.queueMetrics = { error: (err as Error).message };
  }
  return verdict;
}

/** Exit-worthy problems: lost, stuck, duplicated or inconsistent work. */
export function problems(v: Verdict): string[] {
  const out: string[] = [];
  if (v.lost.length) out.push(`${v.lost.length} lost meeting(s)`);
  if (v.stuck.length) out.push(`${v.stuck.length} stuck meeting(s)`);
  if (v.keyDuplicates) out.push(`${v.keyDuplicates} duplicate segment key(s)`);
  if (v.textDuplicates) out.push(`${v.textDuplicates} duplicate segment text(s)`);
  if (v.inconsistent.length) out.push(`${v.inconsistent.length} completed meeting(s) with inconsistent checkpoints`);
  if (v.notSubmitted.length) out.push(`${v.notSubmitted.length} meeting(s) never submitted`);
  return out;
}
