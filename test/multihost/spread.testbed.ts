/**
 * Scenario a: jobs submitted through the API (on the api host) spread over
 * three worker hosts and all complete; every process of the test bed,
 * this test's own included, runs inside its host's namespace.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIO_DIR } from '../helpers/fixtures.js';
import { registerMeeting, startTranscription, storedSegments, waitForStatus } from '../helpers/meetings.js';
import type { ServiceProcess } from '../helpers/processes.js';
import { assertSealed, WORKER_HOSTS } from './network.js';
import { startTestbedStack, type TestbedStack } from './testbed.js';

let stack: TestbedStack;
const workers = new Map<string, ServiceProcess>();

beforeAll(async () => {
  stack = await startTestbedStack();
  await stack.startApi();
  const started = await Promise.all(WORKER_HOSTS.map((host) => stack.startWorkerOn(host)));
  WORKER_HOSTS.forEach((host, i) => workers.set(host, started[i]));
}, 600_000);
afterAll(async () => {
  await stack?.dispose();
});

/** The namespace a process runs in, as `ip netns identify` names it. */
const netnsOf = (pid: number): string => execFileSync('ip', ['netns', 'identify', String(pid)], { encoding: 'utf8' }).trim();

describe('test bed', () => {
  it('is sealed off, and each process runs on its own host', () => {
    assertSealed(stack.topology);
    const { hosts } = stack.topology;
    expect(netnsOf(process.pid)).toBe(hosts.client.netns);
    expect(netnsOf(stack.processes.find((p) => p.name === 'api')!.pid)).toBe(hosts.api.netns);
    for (const host of WORKER_HOSTS) expect(netnsOf(workers.get(host)!.pid)).toBe(hosts[host].netns);
    const serverPids = execFileSync('ip', ['netns', 'pids', hosts.core.netns], { encoding: 'utf8' }).split('\n').filter(Boolean);
    expect(serverPids.length).toBeGreaterThanOrEqual(2); // redis-server and FerretDB
  });
});

describe('scenario a: jobs spread over the worker hosts', () => {
  it('nine jobs through the API complete, each worker host ran some, no duplicate segments', async () => {
    const dir = join(AUDIO_DIR, 'librispeech/test-clean');
    const clips = readdirSync(dir).filter((f) => f.endsWith('.flac')).sort().slice(0, 9);
    expect(clips.length).toBe(9);
    const ids = clips.map((_, i) => `spread-${i}`);
    for (const [i, id] of ids.entries()) await registerMeeting(stack, 'p', id, join(dir, clips[i]));
    for (const id of ids) await startTranscription(stack, 'p', id);
    for (const id of ids) await waitForStatus(stack, 'p', id, 'completed', 240_000);

    const ranBy = new Map<string, string[]>();
    for (const [host, w] of workers) {
      ranBy.set(host, w.logs().filter((l) => l.msg === 'job completed' && ids.includes(String(l.meetingId))).map((l) => String(l.meetingId)));
    }
    console.log(`spread: ${[...ranBy].map(([h, m]) => `${h} ${m.length}`).join(', ')}`);
    for (const host of WORKER_HOSTS) expect(ranBy.get(host)!.length, `jobs completed on ${host}`).toBeGreaterThan(0);
    expect([...ranBy.values()].flat().sort()).toEqual([...ids].sort());
    for (const id of ids) {
      const { docs, duplicateKeys } = await storedSegments(stack, id);
      expect(docs.length).toBeGreaterThan(0);
      expect(duplicateKeys).toEqual([]);
    }
  }, 300_000);
});
