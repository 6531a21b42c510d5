/** Reading the service processes' JSON log lines: a worker's job in hand, and waiting for a line on any process. */
import type { LogLine, ServiceProcess } from '../../test/helpers/processes.js';

/** Processor lines that end a worker's hold on a job. */
const JOB_END = new Set([
  'job completed',
  'job failed for good',
  'job handed back to the queue (shutdown)',
  'another worker took over this meeting; stopping without writing',
]);

export const msgIs = (msg: string) => (l: LogLine) => l.msg === msg;

export function isJobEnd(line: LogLine): boolean {
  return (typeof line.msg === 'string' && JOB_END.has(line.msg)) || (typeof line.msg === 'string' && line.msg.startsWith('job attempt failed'));
}

export interface HeldJob {
  meetingId: string;
  jobId: string;
  /** When the worker logged 'job started', ms since the epoch. */
  startedAt: number;
  chunksSaved: number;
}

/** The job a worker holds according to its log: the last 'job started' not yet followed by an end line. */
export function heldJob(proc: ServiceProcess): HeldJob | undefined {
  let held: HeldJob | undefined;
  for (const line of proc.logs()) {
    if (line.msg === 'job started') {
      held = { meetingId: String(line.meetingId), jobId: String(line.jobId), startedAt: Number(line.time), chunksSaved: 0 };
    } else if (held && line.meetingId === held.meetingId) {
      if (line.msg === 'chunk saved') held.chunksSaved++;
      else if (isJobEnd(line)) held = undefined;
    }
  }
  return held;
}

export interface Found {
  line: LogLine;
  proc: ServiceProcess;
}

/** The earliest line at or after `sinceMs` matching `match` among `procs`. */
export function findLine(procs: readonly ServiceProcess[], match: (l: LogLine) => boolean, sinceMs: number): Found | undefined {
  let best: Found | undefined;
  for (const proc of procs) {
    for (const line of proc.logs()) {
      const time = Number(line.time);
      if (time < sinceMs || !match(line)) continue;
      if (!best || time < Number(best.line.time)) best = { line, proc };
      break;
    }
  }
  return best;
}

/**
 * Polls (every 100 ms) the processes `procs()` returns — replacements
 * included — for a line at or after `sinceMs`; undefined at `untilMs` or on abort.
 */
export async function waitForLine(
  procs: () => readonly ServiceProcess[],
  match: (l: LogLine) => boolean,
  sinceMs: number,
  untilMs: number,
  signal: AbortSignal,
): Promise<Found | undefined> {
  for (;;) {
    const found = findLine(procs(), match, sinceMs);
    if (found) return found;
    if (Date.now() >= untilMs || signal.aborted) return undefined;
    await sleep(100, signal);
  }
}

/** Resolves after `ms` or at once on abort (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
