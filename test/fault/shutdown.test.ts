/**
 * Scenario 5 and deploys: SIGTERM mid-job hands the job back at once (no
 * stall wait, no attempt spent) and releases the ONNX sessions; a worker
 * stuck past its grace is forced down and its job recovered; two graceful
 * restarts during one job do not fail it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { longformClip } from '../helpers/fixtures.js';
import { chunksSavedBy, registerMeeting, settledJob, startTranscription, storedSegments, waitForStatus } from '../helpers/meetings.js';
import { byMsg, type ServiceProcess } from '../helpers/processes.js';
import { type Stack, startStack } from '../helpers/stack.js';

let stack: Stack;
const GRACE_MS = 15_000;

beforeAll(async () => {
  stack = await startStack({ env: { SHUTDOWN_GRACE_MS: String(GRACE_MS) } });
  await stack.startApi();
}, 60_000);
afterAll(async () => {
  await stack?.dispose();
});

function running(): ServiceProcess[] {
  return stack.processes.filter((p) => p.running() && p.name !== 'api');
}

/** The worker that holds the meeting's job: the last one to log 'job started' for it. */
async function holder(meetingId: string, minChunks = 1): Promise<ServiceProcess> {
  return Promise.race(
    running().map((w) =>
      w.waitForLog(() => {
        const started = w.logs().filter((l) => l.msg === 'job started' && l.meetingId === meetingId).length;
        return started > 0 && chunksSavedBy(w.logs(), meetingId).length >= minChunks + (started - 1) * 100;
      }, 120_000).then(() => w),
    ),
  );
}

describe('SIGTERM mid-job', () => {
  it('exits 0 within grace, hands back in < 2 s without spending an attempt, releases the ONNX sessions', async () => {
    await stack.startWorker('s-a');
    await stack.startWorker('s-b');
    await registerMeeting(stack, 'p', 'term', longformClip(120));
    await startTranscription(stack, 'p', 'term');
    const busy = await holder('term', 2);
    const other = running().find((w) => w !== busy)!;
    const sentAt = Date.now();
    busy.signal('SIGTERM');
    const handedBack = await busy.waitForLog(byMsg('job handed back to the queue (shutdown)'), GRACE_MS);
    // Read BullMQ's own record right after the hand-back: no attempt was spent.
    const job = await stack.regular.getJob('transcription-p.term');
    expect(job?.attemptsMade).toBe(0);
    const exit = await busy.exited;
    expect(exit.code).toBe(0);
    expect(exit.at - sentAt).toBeLessThan(GRACE_MS);
    expect(busy.logs().some((l) => l.msg === 'onnx sessions released')).toBe(true);
    const resumed = await other.waitForLog((l) => l.msg === 'job started' && l.meetingId === 'term', 5000);
    const handBackMs = Number(resumed.time) - Number(handedBack.time);
    console.log(`graceful hand-back: resumed ${handBackMs} ms after the hand-back, ${Number(resumed.time) - sentAt} ms after SIGTERM`);
    expect(handBackMs).toBeLessThan(2000);
    await waitForStatus(stack, 'p', 'term', 'completed', 180_000);
    const done = await settledJob(stack.regular, 'transcription-p.term', 'completed');
    expect(done.attemptsMade).toBe(1);
    expect(done.stalledCounter).toBe(0);
  }, 300_000);

  it('a worker stuck past its grace period is forced down and its job recovered by another worker', async () => {
    for (const w of running()) {
      w.signal('SIGTERM');
      expect((await w.exited).code).toBe(0);
    }
    // Grace shorter than one batch of four chunks on a CPU: the inference thread cannot finish in time.
    const stuck = await stack.startWorker('s-stuck', { SHUTDOWN_GRACE_MS: '200', INFERENCE_BATCH_SIZE: '4' });
    await registerMeeting(stack, 'p', 'stuck', longformClip(150));
    await startTranscription(stack, 'p', 'stuck');
    await stuck.waitForLog(byMsg('chunks planned', { meetingId: 'stuck' }), 60_000);
    const rescuer = await stack.startWorker('s-rescuer');
    const sentAt = Date.now();
    stuck.signal('SIGTERM');
    await stuck.waitForLog((l) => String(l.msg).startsWith('grace period over'), 5000);
    const exit = await stuck.exited;
    // Forced: exit 1, or SIGKILL by itself when the inference thread was still inside ONNX Runtime.
    expect(exit.code === 1 || exit.signal === 'SIGKILL', JSON.stringify(exit)).toBe(true);
    expect(stuck.logs().find((l) => l.msg === 'worker stopped')?.outcome).toMatch(/^forced/);
    expect(exit.at - sentAt).toBeLessThan(200 + 2000 + 1500);
    await rescuer.waitForLog((l) => l.msg === 'job started' && l.meetingId === 'stuck', 30_000);
    await waitForStatus(stack, 'p', 'stuck', 'completed', 180_000);
    const { duplicateKeys } = await storedSegments(stack, 'stuck');
    expect(duplicateKeys).toEqual([]);
  }, 300_000);
});

describe('two deploys in a row', () => {
  it('two graceful restarts during one job do not fail it', async () => {
    await registerMeeting(stack, 'p', 'deploys', longformClip(150));
    await startTranscription(stack, 'p', 'deploys');
    for (let deploy = 1; deploy <= 2; deploy++) {
      const busy = await holder('deploys', 1);
      busy.signal('SIGTERM');
      await busy.waitForLog(byMsg('job handed back to the queue (shutdown)'), GRACE_MS);
      expect((await busy.exited).code).toBe(0);
      await stack.startWorker(`deploy-${deploy}`);
    }
    const { seen } = await waitForStatus(stack, 'p', 'deploys', 'completed', 240_000);
    expect(seen.some((s) => s.status === 'failed')).toBe(false);
    const job = await settledJob(stack.regular, 'transcription-p.deploys', 'completed');
    expect(job.attemptsMade).toBe(1);
    const { duplicateKeys } = await storedSegments(stack, 'deploys');
    expect(duplicateKeys).toEqual([]);
  }, 400_000);
});
