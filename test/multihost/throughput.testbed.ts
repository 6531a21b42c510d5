/**
 * Scenario d: throughput of the same batch of short jobs (twelve LibriSpeech
 * clips, whisper-tiny, one inference thread per worker) with one worker host
 * and with two. Prints jobs per minute and the ratio; with TESTBED_RESULTS=1
 * also writes bench/results/<date>-<commit>-testbed.md. The assertion is
 * loose (both hosts take jobs, and two are faster than one by
 * TESTBED_MIN_RATIO, 1.15 unless set): the machine is shared and the ratio
 * is noisy; the goal of 1.8x on two cores is reported, not enforced.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitState } from '../../bench/lib/machine.js';
import { machineLine } from '../../bench/lib/before-after.js';
import { AUDIO_DIR } from '../helpers/fixtures.js';
import { registerMeeting, startTranscription, waitForStatus } from '../helpers/meetings.js';
import { startTestbedStack, type TestbedStack } from './testbed.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLIPS_DIR = join(AUDIO_DIR, 'librispeech/test-other');
const BATCH = readdirSync(CLIPS_DIR).filter((f) => f.endsWith('.flac')).sort().slice(0, 12);
/** Two hosts must beat one by this factor at least (the goal is 1.8). */
const MIN_RATIO = Number(process.env.TESTBED_MIN_RATIO ?? 1.15);

let stack: TestbedStack;

beforeAll(async () => {
  stack = await startTestbedStack();
  await stack.startApi();
}, 120_000);
afterAll(async () => {
  await stack?.dispose();
});

interface Run {
  hosts: number;
  seconds: number;
  jobsPerMinute: number;
  load: number;
}

/** Registers the batch, starts every job, and times from the first start to the last job's finish in BullMQ. */
async function runBatch(tag: string, hosts: number): Promise<Run> {
  const ids = BATCH.map((_, i) => `${tag}-${i}`);
  for (const [i, id] of ids.entries()) await registerMeeting(stack, 'p', id, join(CLIPS_DIR, BATCH[i]));
  const load = os.loadavg()[0];
  const startedAt = Date.now();
  const jobIds: string[] = [];
  for (const id of ids) jobIds.push((await startTranscription(stack, 'p', id)).jobId);
  for (const id of ids) await waitForStatus(stack, 'p', id, 'completed', 600_000);
  let finishedAt = 0;
  for (const jobId of jobIds) {
    await expect.poll(async () => (await stack.regular.getJob(jobId))?.finishedOn, { timeout: 10_000 }).toBeGreaterThan(0);
    finishedAt = Math.max(finishedAt, (await stack.regular.getJob(jobId))!.finishedOn!);
  }
  const seconds = (finishedAt - startedAt) / 1000;
  return { hosts, seconds, jobsPerMinute: (ids.length / seconds) * 60, load };
}

describe('scenario d: throughput with one worker host and with two', () => {
  it('the same batch of short jobs runs faster on two hosts', async () => {
    const loadAtStart = os.loadavg()[0];
    const w1 = await stack.startWorkerOn('w1');
    const one = await runBatch('tp1', 1);
    const w2 = await stack.startWorkerOn('w2');
    const two = await runBatch('tp2', 2);
    const ranOn = [w1, w2].map((w) => w.logs().filter((l) => l.msg === 'job completed' && String(l.meetingId).startsWith('tp2-')).length);
    const ratio = two.jobsPerMinute / one.jobsPerMinute;

    const { commit, dirty } = gitState(REPO_ROOT);
    const date = new Date().toISOString().slice(0, 10);
    const table = [
      `# Multi-host test bed: throughput (${date}, ${commit}${dirty ? ', uncommitted changes in the tree' : ''})`,
      '',
      `- batch: ${BATCH.length} LibriSpeech test-other clips (${BATCH[0]} … ${BATCH.at(-1)}), MODEL=tiny, INFERENCE_THREADS=1, one job at a time per worker`,
      '- hosts: network namespaces on one machine (core: Redis + FerretDB, api, client, worker hosts); time from the first start request to the last job finished in BullMQ',
      machineLine(loadAtStart),
      '',
      '| worker hosts | batch time (s) | jobs per minute | load average at batch start |',
      '|---|---|---|---|',
      ...[one, two].map((r) => `| ${r.hosts} | ${r.seconds.toFixed(1)} | ${r.jobsPerMinute.toFixed(1)} | ${r.load.toFixed(2)} |`),
      '',
      `Jobs of the second batch per host: w1 ${ranOn[0]}, w2 ${ranOn[1]}.`,
      `Ratio (two hosts / one): **${ratio.toFixed(2)}×** (goal on this 2-core machine: at least 1.8×).`,
      '',
    ].join('\n');
    console.log(table);
    if (process.env.TESTBED_RESULTS === '1') {
      const dir = join(REPO_ROOT, 'bench', 'results');
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `${date}-${commit}-testbed.md`);
      writeFileSync(file, table);
      console.log(`wrote ${file}`);
    }
    expect(ranOn.every((n) => n > 0), `second batch per host: ${ranOn.join(', ')}`).toBe(true);
    expect(ratio).toBeGreaterThan(MIN_RATIO);
  }, 1_200_000);
});
