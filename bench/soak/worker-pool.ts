/**
 * The soak's worker processes: a fixed number of slots, each holding one
 * worker process at a time. Faults kill or stop a slot's process and a
 * replacement is started in its place; a process that exits without being
 * told to is recorded (a crash is a finding) and replaced too.
 */
import type { ServiceProcess } from '../../test/helpers/processes.js';
import type { Stack } from '../../test/helpers/stack.js';
import { sleep } from './logs.js';

export interface UnexpectedExit {
  worker: string;
  at: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  lastLines: string[];
}

interface Slot {
  index: number;
  generation: number;
  proc?: ServiceProcess;
  starting?: Promise<void>;
}

export class WorkerPool {
  private readonly slots: Slot[];
  private readonly procs: ServiceProcess[] = [];
  /** Processes the soak itself signalled; any other exit is unexpected. */
  private readonly signalled = new Set<ServiceProcess>();
  readonly unexpectedExits: UnexpectedExit[] = [];
  readonly startFailures: string[] = [];
  private closed = false;

  constructor(
    private readonly stack: Stack,
    size: number,
    private readonly signal: AbortSignal,
    private readonly log: (text: string) => void,
  ) {
    this.slots = Array.from({ length: size }, (_, index) => ({ index, generation: 0 }));
  }

  /** Starts every slot; resolves when all consume (or failed to start, which is recorded). */
  async startAll(): Promise<void> {
    await Promise.all(this.slots.map((slot) => this.fill(slot, 0)));
    if (this.running().length === 0) throw new Error(`no worker started: ${this.startFailures.join('; ')}`);
  }

  /** Workers that consume now. */
  running(): ServiceProcess[] {
    return this.slots.flatMap((s) => (s.proc?.running() ? [s.proc] : []));
  }

  /** Every worker process started so far, dead ones included (their logs are the soak's evidence). */
  all(): readonly ServiceProcess[] {
    return this.procs;
  }

  /** Marks a process as deliberately signalled by a fault, so its exit is not a crash. */
  expectExit(proc: ServiceProcess): void {
    this.signalled.add(proc);
  }

  /** Starts a replacement in the slot of `proc` after `delayMs` (in the background). */
  replace(proc: ServiceProcess, delayMs: number): void {
    const slot = this.slots.find((s) => s.proc === proc);
    if (!slot || slot.starting) return;
    slot.proc = undefined;
    slot.starting = this.fill(slot, delayMs).finally(() => {
      slot.starting = undefined;
    });
  }

  /** Waits for replacements being started. */
  async settle(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.starting));
  }

  /** No more replacements (the soak is ending). */
  close(): void {
    this.closed = true;
  }

  private async fill(slot: Slot, delayMs: number): Promise<void> {
    await sleep(delayMs, this.signal);
    for (let attempt = 1; attempt <= 3 && !this.closed && !this.signal.aborted; attempt++) {
      slot.generation++;
      const name = `w${slot.index + 1}${slot.generation > 1 ? `.${slot.generation}` : ''}`;
      try {
        const proc = await this.stack.startWorker(name);
        this.procs.push(proc);
        slot.proc = proc;
        void proc.exited.then((exit) => this.onExit(slot, proc, exit));
        if (slot.generation > 1) this.log(`${name} consuming (replacement)`);
        return;
      } catch (err) {
        const message = (err as Error).message.split('\n')[0];
        this.startFailures.push(`${name}: ${message}`);
        this.log(`${name} failed to start (${message})`);
        const failed = this.stack.processes.find((p) => p.name === name);
        if (failed) {
          this.procs.push(failed);
          failed.signal('SIGKILL');
        }
      }
    }
  }

  private onExit(slot: Slot, proc: ServiceProcess, exit: { code: number | null; signal: NodeJS.Signals | null; at: number }): void {
    if (this.signalled.has(proc) || this.closed || this.signal.aborted) return;
    const lastLines = proc.logs().slice(-6).map((l) => JSON.stringify(l));
    this.unexpectedExits.push({ worker: proc.name, at: exit.at, code: exit.code, signal: exit.signal, lastLines });
    this.log(`UNEXPECTED: ${proc.name} exited on its own (code ${exit.code}, signal ${exit.signal}); replacing it`);
    if (slot.proc === proc) this.replace(proc, 1000);
  }
}
