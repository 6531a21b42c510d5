/**
 * Scenario 1 (worker crash) and the zombie case, on real processes: a
 * kill -9 mid-job is recovered by stall detection on the other worker, which
 * resumes from the checkpoints; a SIGSTOPped worker that comes back late has
 * its writes refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { longformClip } from '../helpers/fixtures.js';
import { chunksSavedBy, registerMeeting, startTranscription, storedSegments, waitForStatus } from '../helpers/meetings.js';
import { byMsg, type ServiceProcess } from '../helpers/processes.js';
import { type Stack, startStack } from '../helpers/stack.js';

let stack: Stack;
const LOCK_MS = 2000;
const STALLED_MS = 1000;

beforeAll(async () => {
  stack = await startStack({ env: { LOCK_DURATION_MS: String(LOCK_MS), STALLED_INTERVAL_MS: String(STALLED_MS) } });
  await stack.startApi();
}, 60_000);
afterAll(async () => {
  await stack?.dispose();
});

/** Waits until one of the workers has saved `n` chunks of the meeting and returns it. */
async function workerAtChunk(workers: ServiceProcess[], meetingId: string, n: number): Promise<ServiceProcess> {
  return Promise.race(
    workers.map((w) =>
      w.waitForLog(() => chunksSavedBy(w.logs(), meetingId).length >= n, 120_000).then(() => w),
    ),
  );
}

describe('worker crash (kill -9)', () => {
  it('the other worker resumes after stall detection; the meeting completes with no duplicate and at most one batch redone', async () => {
    const a = await stack.startWorker('crash-a');
    const b = await stack.startWorker('crash-b');
    await registerMeeting(stack, 'p', 'crash', longformClip(150));
    await startTranscription(stack, 'p', 'crash');
    // ~30%: the plan of 150 s has about 8 chunks.
    const victim = await workerAtChunk([a, b], 'crash', 3);
    const survivor = victim === a ? b : a;
    const killedAt = Date.now();
    victim.signal('SIGKILL');
    await victim.exited;
    const resumed = await survivor.waitForLog((l) => l.msg === 'job started' && l.meetingId === 'crash', 30_000);
    const recoveryMs = Number(resumed.time) - killedAt;
    console.log(`worker crash: recovery ${recoveryMs} ms (bound ${LOCK_MS + STALLED_MS + 2000} ms)`);
    expect(recoveryMs).toBeLessThan(LOCK_MS + STALLED_MS + 2000);
    expect(Number(resumed.resumedChunks)).toBeGreaterThanOrEqual(3);

    const { final } = await waitForStatus(stack, 'p', 'crash', 'completed', 180_000);
    expect(final.progress).toBe(100);
    const { docs, duplicateKeys, duplicateSpans } = await storedSegments(stack, 'crash');
    expect(docs.length).toBeGreaterThan(0);
    expect(duplicateKeys).toEqual([]);
    expect(duplicateSpans).toEqual([]);
    const redone = chunksSavedBy(survivor.logs(), 'crash').filter((c) => chunksSavedBy(victim.logs(), 'crash').includes(c));
    expect(redone.length).toBeLessThanOrEqual(Number(stack.env.INFERENCE_BATCH_SIZE));
    const job = await stack.regular.getJob('transcription-crash');
    expect(job?.stalledCounter).toBe(1);
    expect(await job?.getState()).toBe('completed');
    await stack.startWorker('crash-a2'); // keep two workers for the next test
  }, 300_000);
});

describe('zombie worker (SIGSTOP past its lock, then SIGCONT)', () => {
  it('its late writes are refused by the epoch fence; the transcript has one copy of each segment', async () => {
    const workers = stack.processes.filter((p) => p.running() && p.name !== 'api');
    await registerMeeting(stack, 'p', 'zombie', longformClip(150));
    await startTranscription(stack, 'p', 'zombie');
    const zombie = await workerAtChunk(workers, 'zombie', 2);
    zombie.signal('SIGSTOP');
    const owner = workers.find((w) => w !== zombie)!;
    // The owner takes the job once the zombie's lock has expired.
    await owner.waitForLog((l) => l.msg === 'job started' && l.meetingId === 'zombie', 30_000);
    zombie.signal('SIGCONT');
    await zombie.waitForLog(byMsg('another worker took over this meeting; stopping without writing', { meetingId: 'zombie' }), 60_000);
    await waitForStatus(stack, 'p', 'zombie', 'completed', 180_000);
    const { duplicateKeys, duplicateSpans } = await storedSegments(stack, 'zombie');
    expect(duplicateKeys).toEqual([]);
    expect(duplicateSpans).toEqual([]);
    const meeting = await stack.db.collection('meetings').findOne({ _id: 'zombie' as never });
    expect(meeting?.epoch).toBe(2);
    // Every stored segment was written by the owner's epoch or by the zombie before it lost the job.
    const zombieLate = await stack.db.collection('segments').countDocuments({ meetingId: 'zombie', epoch: { $gt: 2 } });
    expect(zombieLate).toBe(0);
  }, 300_000);
});
