/**
 * Real service processes for end-to-end and fault tests: the API and
 * workers run as child processes (node + tsx), their JSON log lines are
 * parsed and can be awaited, and they can be signalled like any process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { inNetns, type Placement } from './servers.js';

export type LogLine = Record<string, unknown> & { msg?: string; level?: number; time?: number };

export interface ServiceProcess {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Every JSON line it logged so far. */
  logs(): LogLine[];
  /** Resolves with the first line (past or future) matching the predicate. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves when the process exits. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  signal(sig: NodeJS.Signals): void;
  running(): boolean;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENTRY = { api: 'src/api/main.ts', worker: 'src/worker/main.ts' } as const;

/** Starts the API or a worker; `at.netns` runs it inside that network namespace (the multi-host test bed). */
export function spawnService(kind: keyof typeof ENTRY, env: Record<string, string>, name: string = kind, at?: Placement): ServiceProcess {
  return spawnCommand(name, inNetns(at, [process.execPath, '--import', 'tsx', ENTRY[kind]]), env);
}

/**
 * Runs `argv` in the repository root (e.g. `['npm', 'start']`) with the
 * service's logging settings; every JSON line on its stdout, its children's
 * included, is collected.
 */
export function spawnCommand(name: string, argv: string[], env: Record<string, string>): ServiceProcess {
  const proc = spawn(argv[0], argv.slice(1), {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', LOG_PRETTY: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  const events = new EventEmitter();
  let stderr = '';
  createInterface({ input: proc.stdout! }).on('line', (text) => {
    try {
      const line = JSON.parse(text) as LogLine;
      lines.push(line);
      events.emit('line', line);
    } catch {
      lines.push({ msg: text, raw: true });
    }
  });
  proc.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    proc.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() }));
  });
  // Awaited lines can still come after the exit: from the last buffered output, or from children that
  // inherited stdout (a supervisor's worker). Give up on them only once every writer closed the pipe.
  proc.once('close', () => events.emit('exit'));
  let done = false;
  void exited.then(() => (done = true));

  return {
    name,
    proc,
    pid: proc.pid!,
    logs: () => lines,
    exited,
    running: () => !done,
    signal: (sig) => {
      if (!done) proc.kill(sig);
    },
    waitForLog(match, timeoutMs = 60_000) {
      const found = lines.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`${name}: no matching log line within ${timeoutMs} ms; last lines:\n${lines.slice(-8).map((l) => JSON.stringify(l)).join('\n')}\nstderr: ${stderr}`));
        }, timeoutMs);
        const onLine = (line: LogLine) => {
          if (!match(line)) return;
          cleanup();
          resolve(line);
        };
        const onExit = () => {
          cleanup();
          reject(new Error(`${name} exited before the awaited log line; last lines:\n${lines.slice(-8).map((l) => JSON.stringify(l)).join('\n')}\nstderr: ${stderr}`));
        };
        const cleanup = () => {
          clearTimeout(timer);
          events.off('line', onLine);
          events.off('exit', onExit);
        };
        events.on('line', onLine);
        events.on('exit', onExit);
      });
    },
  };
}

export const byMsg = (msg: string, extra: Record<string, unknown> = {}) => (line: LogLine) =>
  line.msg === msg && Object.entries(extra).every(([k, v]) => line[k] === v);

/** Stops every process still running (SIGKILL), for afterAll. */
export async function killAll(processes: Iterable<ServiceProcess>): Promise<void> {
  const list = [...processes];
  for (const p of list) p.signal('SIGKILL');
  await Promise.all(list.map((p) => p.exited));
}
