/**
 * Signals reach the service however it is started (issue 16): SIGTERM to the
 * npm process of `npm start` or `npm run start:worker` hands the running job
 * back within 2 s and leaves no process of the tree behind; SIGKILL to the
 * supervisor of `npm start`, or to npm above it, stops its worker, which hands
 * the job back, and another worker resumes it. The process trees are read
 * from /proc. The scripts run the compiled code, so the test builds it first.
 * (The Docker images run node under tini: test/unit/dockerfile.test.ts.)
 */
import { execFileSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { longformClip } from '../helpers/fixtures.js';
import { chunksSavedBy, registerMeeting, startTranscription } from '../helpers/meetings.js';
import { freePort } from '../helpers/ports.js';
import { isAlive, processTree, type ProcInfo } from '../helpers/process-tree.js';
import { byMsg, spawnCommand, type ServiceProcess } from '../helpers/processes.js';
import { type Stack, startStack } from '../helpers/stack.js';

let stack: Stack;
// Long enough for a graceful close on a loaded CI machine (two test files running beside this one).
const GRACE_MS = 20_000;
/** The tree must be gone once the grace period is over: a worker slower than the grace (a loaded machine) is forced to exit at its end. */
const AFTER_GRACE_MS = GRACE_MS + 5_000;
const HANDED_BACK = 'job handed back to the queue (shutdown)';

beforeAll(async () => {
  // npm start and the start:* scripts run the compiled code: build it from the sources under test.
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit', timeout: 240_000 });
  stack = await startStack({ env: { SHUTDOWN_GRACE_MS: String(GRACE_MS) } });
  await stack.startApi();
}, 300_000);
afterAll(async () => {
  await stack?.dispose();
});

// A failed test must not leave its npm tree consuming jobs that the next test waits for.
let spawnedBefore = 0;
beforeEach(() => {
  spawnedBefore = stack.processes.length;
});
afterEach(async () => {
  const spawned = stack.processes.slice(spawnedBefore);
  for (const p of spawned.flatMap((proc) => processTree(proc.pid))) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await Promise.all(spawned.map((proc) => proc.exited));
});

/** `npm <args>` with the stack's settings, registered for clean-up; resolves once its worker consumes. */
async function startNpm(name: string, args: string[]): Promise<ServiceProcess> {
  const proc = spawnCommand(name, ['npm', '--silent', ...args], { ...stack.env, PORT: String(await freePort()), HOST: '127.0.0.1' });
  stack.processes.push(proc);
  await proc.waitForLog(byMsg('worker consuming'), 60_000);
  return proc;
}

/** Starts a meeting and waits until `proc`'s worker has saved a chunk of it. */
async function busyWith(proc: ServiceProcess, meetingId: string): Promise<void> {
  await registerMeeting(stack, 'p', meetingId, longformClip(120));
  await startTranscription(stack, 'p', meetingId);
  await proc.waitForLog(() => chunksSavedBy(proc.logs(), meetingId).length >= 1, 120_000);
}

/**
 * The tree without the processes that come and go: ffmpeg/ffprobe while audio
 * is decoded, and tsx's esbuild service while sources not yet in its cache are
 * compiled (a fresh clone, as in CI).
 */
const serviceProcesses = (tree: ProcInfo[]) => tree.filter((p) => !/ff(mpeg|probe)|esbuild/.test(p.command));

async function expectAllGone(tree: ProcInfo[], withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline && tree.some((p) => isAlive(p.pid))) await new Promise((r) => setTimeout(r, 100));
  expect(tree.filter((p) => isAlive(p.pid)).map((p) => `${p.pid} ${p.command}`)).toEqual([]);
}

describe('SIGTERM to the npm process', () => {
  it('npm start: the job is handed back within 2 s, another worker resumes it, and no process is left', async () => {
    const npm = await startNpm('npm-start', ['start']);
    await busyWith(npm, 'npm-start');
    const tree = processTree(npm.pid);
    // npm, the supervisor, the API and the worker (sh execs the command away).
    expect(serviceProcesses(tree).map((p) => p.command)).toEqual([
      expect.stringMatching(/^npm /),
      expect.stringMatching(/dist\/src\/main\.js$/),
      expect.stringMatching(/dist\/src\/api\/main\.js$/),
      expect.stringMatching(/dist\/src\/worker\/main\.js$/),
    ]);
    const other = await stack.startWorker('other-1');

    const sentAt = Date.now();
    npm.signal('SIGTERM');
    const handedBack = await npm.waitForLog(byMsg(HANDED_BACK, { meetingId: 'npm-start' }), 5_000);
    expect(Number(handedBack.time) - sentAt).toBeLessThan(2_000);
    await other.waitForLog(byMsg('job started', { meetingId: 'npm-start' }), 10_000);
    await expectAllGone(tree, AFTER_GRACE_MS);
    expect((await npm.exited).code).toBe(0);
    other.signal('SIGTERM');
    await other.exited;
  }, 240_000);

  it('npm run start:worker: the same, for a worker on its own', async () => {
    const npm = await startNpm('npm-worker', ['run', 'start:worker']);
    await busyWith(npm, 'npm-worker');
    const tree = processTree(npm.pid);
    expect(serviceProcesses(tree).map((p) => p.command)).toEqual([expect.stringMatching(/^npm /), expect.stringMatching(/dist\/src\/worker\/main\.js$/)]);
    const other = await stack.startWorker('other-2');

    const sentAt = Date.now();
    npm.signal('SIGTERM');
    const handedBack = await npm.waitForLog(byMsg(HANDED_BACK, { meetingId: 'npm-worker' }), 5_000);
    expect(Number(handedBack.time) - sentAt).toBeLessThan(2_000);
    await other.waitForLog(byMsg('job started', { meetingId: 'npm-worker' }), 10_000);
    await expectAllGone(tree, AFTER_GRACE_MS);
    expect((await npm.exited).code).toBe(0);
    other.signal('SIGTERM');
    await other.exited;
  }, 240_000);
});

describe('SIGKILL above the worker of npm start', () => {
  it('to the supervisor: its worker hands the job back and exits, its API exits, and another worker resumes the job', async () => {
    const npm = await startNpm('npm-kill', ['start']);
    await busyWith(npm, 'npm-kill');
    const tree = processTree(npm.pid);
    const supervisor = tree.find((p) => p.command.endsWith('dist/src/main.js'))!;
    expect(supervisor).toBeDefined();
    const other = await stack.startWorker('other-3');

    const sentAt = Date.now();
    process.kill(supervisor.pid, 'SIGKILL');
    const handedBack = await npm.waitForLog(byMsg(HANDED_BACK, { meetingId: 'npm-kill' }), 5_000);
    expect(Number(handedBack.time) - sentAt).toBeLessThan(2_000);
    await other.waitForLog(byMsg('job started', { meetingId: 'npm-kill' }), 10_000);
    await expectAllGone(tree, AFTER_GRACE_MS);
    other.signal('SIGTERM');
    await other.exited;
  }, 240_000);

  it('and when npm itself is killed, the supervisor notices within a second and stops both', async () => {
    const npm = await startNpm('npm-orphan', ['start']);
    await busyWith(npm, 'npm-orphan');
    const tree = processTree(npm.pid);
    const other = await stack.startWorker('other-4');

    const sentAt = Date.now();
    npm.signal('SIGKILL');
    const handedBack = await npm.waitForLog(byMsg(HANDED_BACK, { meetingId: 'npm-orphan' }), 5_000);
    expect(Number(handedBack.time) - sentAt).toBeLessThan(2_000);
    expect(npm.logs().some((l) => l.msg === 'parent process gone; stopping api and worker' && l.reason === 'reparented')).toBe(true);
    await other.waitForLog(byMsg('job started', { meetingId: 'npm-orphan' }), 10_000);
    await expectAllGone(tree, AFTER_GRACE_MS);
    other.signal('SIGTERM');
    await other.exited;
  }, 240_000);
});
