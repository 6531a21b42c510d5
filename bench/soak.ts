/**
 * Chaos soak: a whole stack (redis-server with AOF, FerretDB, the API, N
 * worker processes) under a stream of meetings submitted through the HTTP
 * API, while a seeded chaos driver kills and stops workers and restarts the
 * servers. Prints one markdown table (nothing lost, stuck or duplicated;
 * recovery time per fault kind; latency), saves it to
 * bench/results/<date>-<commit>-soak.md and exits 1 when anything was lost,
 * stuck or duplicated. Always stops by itself: every phase is bounded, a
 * watchdog enforces a hard deadline and every child process is killed at
 * the end, on error and on SIGINT/SIGTERM.
 *
 *   npm run soak -- [--duration 300] [--workers 3] [--short 50] [--long 3] [--seed N]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServiceProcess } from '../test/helpers/processes.js';
import { type Stack, startStack } from '../test/helpers/stack.js';
import { parseSoakArgs, type SoakArgs } from './soak/args.js';
import { runChaos, type FaultRecord } from './soak/chaos.js';
import { killChildrenSync } from './soak/children.js';
import { sleep } from './soak/logs.js';
import { createRng } from './soak/prng.js';
import { machine, renderResults, renderTable, type SoakOutcome } from './soak/report.js';
import { problems, statuses, verify } from './soak/verify.js';
import { WorkerPool, type UnexpectedExit } from './soak/worker-pool.js';
import { planSubmissions, submitAll, type Submission } from './soak/workload.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Bounds of the phases around the run itself, ms. */
const SETUP_BOUND_MS = 180_000;
const VERIFY_BOUND_MS = 120_000;
const DISPOSE_BOUND_MS = 30_000;
/** Longest wait for one fault's recovery, ms. */
const RECOVERY_BOUND_MS = 45_000;
/** Draining gives up when nothing advanced for this long. */
const NO_PROGRESS_MS = 60_000;

/** Settings of every service process (on top of the stack's short lock/stall timings). */
const SOAK_ENV: Record<string, string> = {
  JOB_ATTEMPTS: '3',
  MAX_STALLED_COUNT: '5',
  WORKER_CONCURRENCY: '1',
  LOG_LEVEL: 'info',
};
const REPORTED_ENV = [
  'MODEL', 'INFERENCE_THREADS', 'INFERENCE_BATCH_SIZE', 'WORKER_CONCURRENCY', 'LOCK_DURATION_MS', 'STALLED_INTERVAL_MS', 'MAX_STALLED_COUNT',
  'JOB_ATTEMPTS', 'JOB_BACKOFF_MS', 'RECONCILE_INTERVAL_MS', 'SHUTDOWN_GRACE_MS', 'MONGODB_TIMEOUT_MS', 'MIN_FREE_DISK_MB',
];

const t0 = Date.now();
const log = (text: string): void => console.log(`[soak +${((Date.now() - t0) / 1000).toFixed(1)}s] ${text}`);

function bounded<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms);
    }),
  ]);
}

async function run(args: SoakArgs, signal: AbortSignal): Promise<number> {
  const loadAtStart = os.loadavg()[0];
  const startedAt = new Date();
  const rng = createRng(args.seed);
  log(`seed ${args.seed}; ${args.short} short + ${args.long} long meeting(s), ${args.workers} workers, ${args.durationSec} s (+${args.drainGraceSec} s drain grace)`);
  const items = await planSubmissions(rng, args.short, args.long, args.longSec);
  const subs: Submission[] = items.map((i) => i.sub);

  let stack: Stack | undefined;
  let pool: WorkerPool | undefined;
  let tempDir: string | undefined;
  try {
    tempDir = mountTempFolder();
    const stackEnv = tempDir ? { ...SOAK_ENV, TEMP_DIR: tempDir, MIN_FREE_DISK_MB: '16' } : SOAK_ENV;
    stack = await bounded('starting the stack', SETUP_BOUND_MS, (async () => {
      const s = await startStack({ env: stackEnv });
      stack = s;
      await s.startApi();
      return s;
    })());
    const apiExits: UnexpectedExit[] = [];
    let closing = false;
    const watchApi = (proc: ServiceProcess) =>
      void proc.exited.then((exit) => {
        if (signal.aborted || closing) return;
        apiExits.push({ worker: 'api', at: exit.at, code: exit.code, signal: exit.signal, lastLines: proc.logs().slice(-6).map((l) => JSON.stringify(l)) });
        log(`UNEXPECTED: the API exited (code ${exit.code}); restarting it`);
        void stack!.startApi().then(({ proc: next }) => watchApi(next), (err: unknown) => log(`API restart failed: ${(err as Error).message}`));
      });
    watchApi(stack.processes.find((p) => p.name === 'api')!);
    pool = new WorkerPool(stack, args.workers, signal, log);
    await bounded('starting the workers', SETUP_BOUND_MS, pool.startAll());
    log(`stack up: redis ${stack.redis.url}, ferretdb ${stack.mongo.url}, ${pool.running().length} worker(s) consuming`);

    const runStart = Date.now();
    const durationMs = args.durationSec * 1000;
    const chaosStop = runStart + durationMs * 0.7;
    const hardEnd = runStart + durationMs + args.drainGraceSec * 1000;
    let latest = new Map<string, string>();
    let submitting = true;
    const finished = (s: string | undefined) => s === 'completed' || s === 'failed';
    const started = () => subs.filter((s) => s.startRequestedAt !== undefined);
    const hasWork = () => submitting || started().some((s) => !finished(latest.get(s.meetingId)));

    const submission = submitAll({ stack, items, spreadMs: durationMs * 0.4, deadline: chaosStop, signal, log }).finally(() => (submitting = false));
    let faults: FaultRecord[] = [];
    const chaos = runChaos({
      stack, pool, rng, stopAt: chaosStop, gapSec: args.faultGapSec, recoveryBoundMs: RECOVERY_BOUND_MS, hasWork, tempDir, signal, log,
    }).then((f) => {
      faults = f;
      log(`chaos over: ${f.length} fault(s); draining`);
    });

    // Progress and drain: until every started meeting is finished (or the deadline).
    let lastReport = 0;
    let drained = false;
    let drainNote: string | undefined;
    // Progress = chunks saved + meetings finished; none for NO_PROGRESS_MS after the chaos window means stuck.
    let lastSignature = -1;
    let lastProgressAt = Date.now();
    while (!signal.aborted && Date.now() < hardEnd) {
      try {
        latest = await bounded('status poll', 5000, statuses(stack.db, started().map((s) => s.meetingId)));
      } catch {
        // FerretDB restarting: keep the previous view
      }
      const counts = { completed: 0, failed: 0, processing: 0, pending: 0 };
      for (const s of latest.values()) if (s in counts) counts[s as keyof typeof counts]++;
      if (Date.now() - lastReport >= 10_000) {
        lastReport = Date.now();
        log(`${started().length}/${subs.length} started; completed ${counts.completed}, failed ${counts.failed}, processing ${counts.processing}, pending ${counts.pending}; ${pool.running().length} worker(s) consuming`);
      }
      if (!submitting && Date.now() >= chaosStop && !hasWork()) {
        drained = true;
        break;
      }
      const signature = counts.completed + counts.failed + pool.all().reduce((n, w) => n + w.logs().filter((l) => l.msg === 'chunk saved').length, 0);
      if (signature !== lastSignature) {
        lastSignature = signature;
        lastProgressAt = Date.now();
      } else if (Date.now() >= chaosStop && Date.now() - lastProgressAt > NO_PROGRESS_MS) {
        drainNote = `no chunk saved and no meeting finished for ${NO_PROGRESS_MS / 1000} s`;
        log(`draining stopped: ${drainNote}`);
        break;
      }
      await sleep(1000, signal);
    }
    const runSec = (Date.now() - runStart) / 1000;
    if (signal.aborted) log(`aborted after ${runSec.toFixed(0)} s`);
    else log(drained ? `drained after ${runSec.toFixed(0)} s` : `not drained after ${runSec.toFixed(0)} s (${drainNote ?? 'deadline'})`);
    // The chaos driver and submissions end at chaosStop at the latest (plus one bounded recovery wait).
    await bounded('chaos driver', RECOVERY_BOUND_MS + 60_000, Promise.all([chaos, submission]));
    if (signal.aborted) return 130;
    closing = true;
    pool.close();

    const verdict = await bounded('verification', VERIFY_BOUND_MS, verify(stack, subs, pool.all(), [...stack.processes]));
    const env = Object.fromEntries(REPORTED_ENV.map((k) => [k, stack!.env[k] ?? '(default)']));
    const outcome: SoakOutcome = {
      args, startedAt, runStartedAt: runStart, runSec, drained, drainNote, faults, verdict, submissions: subs,
      unexpectedExits: [...pool.unexpectedExits, ...apiExits],
      workerStartFailures: pool.startFailures,
      env,
      machine: machine(REPO_ROOT, loadAtStart),
    };
    outcome.logsDir = saveLogs(stack.processes);
    log(`service logs saved under ${outcome.logsDir}`);
    const table = renderTable(outcome);
    console.log(`\n${table}\n`);
    const bad = problems(verdict);
    if (args.write) {
      const dir = join(REPO_ROOT, 'bench', 'results');
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `${startedAt.toISOString().slice(0, 10)}-${outcome.machine.commit}-soak.md`);
      writeFileSync(file, renderResults(outcome, table));
      log(`results written to ${file}`);
    }
    if (bad.length) {
      console.error(`soak FAILED: ${bad.join(', ')}`);
      return 1;
    }
    log('soak passed: nothing lost, stuck or duplicated');
    return 0;
  } finally {
    pool?.close();
    if (stack) await bounded('stopping the stack', DISPOSE_BOUND_MS, stack.dispose()).catch((err: unknown) => log(`dispose: ${(err as Error).message}`));
    if (tempDir) unmountTempFolder(tempDir);
  }
}

/**
 * The workers' TEMP_DIR as a 256 MiB tmpfs of its own, so the 'diskfull'
 * fault can fill it without touching the host's disks. Needs root; without
 * it the soak runs without that fault (and says so).
 */
function mountTempFolder(): string | undefined {
  const dir = mkdtempSync(join(os.tmpdir(), 'meno-soak-temp-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256m', 'tmpfs', dir], { stdio: 'pipe' });
    log(`workers decode into a 256 MiB tmpfs at ${dir} (the 'temp folder full' fault fills it)`);
    return dir;
  } catch (err) {
    log(`cannot mount a tmpfs for TEMP_DIR (${(err as Error).message.split('\n')[0]}); the 'temp folder full' fault is skipped`);
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
}

function unmountTempFolder(dir: string): void {
  try {
    execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
    rmSync(dir, { recursive: true, force: true });
  } catch (err) {
    log(`umount ${dir}: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** Every service process's log lines, one JSONL file per process, in a new temp folder (the evidence behind the table). */
function saveLogs(procs: readonly ServiceProcess[]): string {
  const dir = mkdtempSync(join(os.tmpdir(), 'meno-soak-logs-'));
  for (const p of procs) writeFileSync(join(dir, `${p.name}.jsonl`), p.logs().map((l) => JSON.stringify(l)).join('\n') + '\n');
  return dir;
}

async function main(): Promise<void> {
  let args: SoakArgs;
  try {
    args = parseSoakArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  const abort = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      killChildrenSync();
      process.exit(130);
    }
    log(`${sig}: stopping (again to kill at once)`);
    abort.abort(new Error(sig));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Whatever happens, no server or worker outlives the soak.
  process.on('exit', () => killChildrenSync());
  const hardDeadlineMs = SETUP_BOUND_MS * 2 + (args.durationSec + args.drainGraceSec) * 1000 + RECOVERY_BOUND_MS + 60_000 + VERIFY_BOUND_MS + DISPOSE_BOUND_MS;
  const watchdog = setTimeout(() => {
    console.error(`soak: hard deadline (${Math.round(hardDeadlineMs / 1000)} s) passed; killing every child process`);
    killChildrenSync();
    process.exit(3);
  }, hardDeadlineMs);
  watchdog.unref();
  let code: number;
  try {
    code = await run(args, abort.signal);
  } catch (err) {
    console.error(`soak error: ${(err as Error).stack ?? String(err)}`);
    code = 2;
  }
  clearTimeout(watchdog);
  process.exit(code);
}

void main();
