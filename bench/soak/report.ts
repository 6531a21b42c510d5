/** The soak's results: one markdown table for the terminal, and a results file with the context around it. */
import os from 'node:os';
import { cpuModel, gitState } from '../lib/machine.js';
import type { SoakArgs } from './args.js';
import { FAULT_KINDS, FAULT_LABELS, type FaultRecord } from './chaos.js';
import type { UnexpectedExit } from './worker-pool.js';
import { problems, type Verdict } from './verify.js';
import type { Submission } from './workload.js';

export interface SoakOutcome {
  args: SoakArgs;
  startedAt: Date;
  /** When the first submission went out (fault times are relative to it), ms since the epoch. */
  runStartedAt: number;
  /** Seconds from the first submission until drained (or the deadline). */
  runSec: number;
  drained: boolean;
  /** Why the drain ended early without draining (no progress), if it did. */
  drainNote?: string;
  faults: FaultRecord[];
  verdict: Verdict;
  submissions: Submission[];
  unexpectedExits: UnexpectedExit[];
  workerStartFailures: string[];
  /** Stack settings that matter for recovery (lock, stall, retry, model). */
  env: Record<string, string>;
  machine: Machine;
  /** Folder with every service process's log (JSONL). */
  logsDir?: string;
}

export interface Machine {
  cpu: string;
  cores: number;
  memoryGb: number;
  node: string;
  loadAtStart: number;
  loadAtEnd: number;
  commit: string;
  dirty: boolean;
}

export function machine(repoRoot: string, loadAtStart: number): Machine {
  return {
    cpu: cpuModel(),
    cores: os.cpus().length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    loadAtStart,
    loadAtEnd: os.loadavg()[0],
    ...gitState(repoRoot),
  };
}

const sec = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

function percentile(values: number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function latency(values: number[]): string {
  if (values.length === 0) return 'n/a';
  return `${sec(percentile(values, 50)!)} / ${sec(percentile(values, 95)!)} (n=${values.length})`;
}

const mark = (n: number): string => (n === 0 ? `${n} ✅` : `**${n}** ❌`);

/** The one table: outcome, integrity checks, recovery per fault kind, latency and notable events. */
export function renderTable(o: SoakOutcome): string {
  const v = o.verdict;
  const rows: [string, string][] = [
    ['meetings submitted (short + long)', `${v.submitted} (${o.submissions.filter((s) => s.kind === 'short' && s.startRequestedAt).length} + ${o.submissions.filter((s) => s.kind === 'long' && s.startRequestedAt).length})`],
    ['completed', String(v.completed)],
    ['failed', String(v.failed.length)],
    ['lost (unfinished, no live job)', mark(v.lost.length)],
    ['stuck (unfinished at the end, job still live)', mark(v.stuck.length)],
    ['duplicate segments: same (meeting, chunk, index)', mark(v.keyDuplicates)],
    ['duplicate segments: same (meeting, start, text)', mark(v.textDuplicates)],
    ['completed with inconsistent chunk checkpoints', mark(v.inconsistent.length)],
    ['completed with an empty transcript', String(v.emptyTranscripts.length)],
    ['API status ≠ MongoDB status', String(v.apiMismatches.length)],
    ['chunks redone (saved by > 1 pickup) / extra saves', `${v.chunksRedone.pairs} / ${v.chunksRedone.extraSaves}`],
  ];
  for (const kind of FAULT_KINDS) {
    const all = o.faults.filter((f) => f.kind === kind);
    const measured = all.filter((f) => f.recoveryMs !== undefined).map((f) => f.recoveryMs!);
    const label = `recovery: ${FAULT_LABELS[kind].name} (${FAULT_LABELS[kind].measure})`;
    if (all.length === 0) {
      rows.push([label, 'no fault of this kind']);
      continue;
    }
    const mean = measured.length ? measured.reduce((a, b) => a + b, 0) / measured.length : undefined;
    const stats = mean === undefined ? 'n/a' : `mean ${sec(mean)}, max ${sec(Math.max(...measured))}`;
    const unmeasured = all.length - measured.length;
    let extra = '';
    const stalls = all.filter((f) => f.stallDetectedMs !== undefined).map((f) => f.stallDetectedMs!);
    if (kind === 'kill9' && stalls.length) extra = `; stall detected after mean ${sec(stalls.reduce((a, b) => a + b, 0) / stalls.length)}, max ${sec(Math.max(...stalls))}`;
    const exits = all.filter((f) => f.outageMs !== undefined).map((f) => f.outageMs!);
    if (exits.length) extra += `; ${kind === 'sigterm' ? 'SIGTERM → exit' : 'downtime'} mean ${sec(exits.reduce((a, b) => a + b, 0) / exits.length)}, max ${sec(Math.max(...exits))}`;
    rows.push([label, `${stats} — ${all.length} fault(s), ${measured.length} measured${unmeasured ? ` (${unmeasured} idle/unseen)` : ''}${extra}`]);
  }
  rows.push(['job latency p50 / p95, short (start request → completed)', latency(v.latencyMs.short)]);
  rows.push(['job latency p50 / p95, long', latency(v.latencyMs.long)]);
  for (const [name, n] of Object.entries(v.events)) rows.push([`events: ${name}`, String(n)]);
  rows.push(['workers that exited on their own (crashes)', String(o.unexpectedExits.length)]);
  rows.push(['client retries (register/start refused while a server was away)', String(o.submissions.reduce((s, x) => s + x.retries, 0))]);
  return ['| metric | value |', '|---|---|', ...rows.map(([k, val]) => `| ${k} | ${val} |`)].join('\n');
}

/** The results file: header (date, commit, machine, settings), the table, then the evidence. */
export function renderResults(o: SoakOutcome, table: string): string {
  const m = o.machine;
  const a = o.args;
  const v = o.verdict;
  const lines: string[] = [
    `# Chaos soak — ${o.startedAt.toISOString().slice(0, 10)} — ${m.commit}${m.dirty ? ' (uncommitted changes)' : ''}`,
    '',
    `- started: ${o.startedAt.toISOString()}; ran ${o.runSec.toFixed(0)} s from the first submission, ${o.drained ? 'drained' : `NOT drained (${o.drainNote ?? 'deadline'})`}`,
    `- machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GiB, Node ${m.node}; load average ${m.loadAtStart.toFixed(2)} at start, ${m.loadAtEnd.toFixed(2)} at end (other work shares the machine: timings are noisy)`,
    `- command: \`npm run soak -- --duration ${a.durationSec} --drain-grace ${a.drainGraceSec} --workers ${a.workers} --short ${a.short} --long ${a.long} --long-sec ${a.longSec} --seed ${a.seed} --fault-gap ${a.faultGapSec.join(',')}\``,
    `- stack: own redis-server (AOF, appendfsync everysec), FerretDB (SQLite), 1 API process, ${a.workers} worker processes; ` +
      Object.entries(o.env).map(([k, val]) => `${k}=${val}`).join(', '),
    `- service logs (JSONL per process): ${o.logsDir ?? 'not saved'}`,
    '- phases: submissions spread over the first 40 % of the duration, faults until 70 %, then draining; one fault at a time, each one\'s recovery awaited before the next',
    '',
    table,
    '',
    problems(v).length ? `**Verdict: FAIL** — ${problems(v).join(', ')}` : '**Verdict: PASS** — nothing lost, stuck or duplicated',
    '',
    '## Faults',
    '',
    'Times are from the first submission. Outage: from stop to accepting connections again (servers), from SIGTERM to exit (workers).',
    '',
    ...o.faults.map((f, i) => `${i + 1}. +${((f.at - o.runStartedAt) / 1000).toFixed(1)} s ${FAULT_LABELS[f.kind].name} on ${f.target}: recovery ${f.recoveryMs === undefined ? 'n/a' : sec(f.recoveryMs)}${f.outageMs === undefined ? '' : `, outage ${sec(f.outageMs)}`} — ${f.note}`),
  ];
  const section = (title: string, items: string[]) => {
    if (items.length) lines.push('', `## ${title}`, '', ...items.map((x) => `- ${x}`));
  };
  section('Failed meetings', v.failed.map((f) => `${f.meetingId}: ${f.reason}`));
  section('Lost meetings', v.lost);
  section('Stuck meetings', v.stuck);
  section('Inconsistent checkpoints', v.inconsistent.map((x) => `${x.meetingId}: ${x.why}`));
  section('Empty transcripts', v.emptyTranscripts);
  section('API/MongoDB mismatches', v.apiMismatches);
  section('Never submitted', v.notSubmitted);
  section('Workers that exited on their own', o.unexpectedExits.map((e) => `${e.worker} at +${((e.at - o.runStartedAt) / 1000).toFixed(1)} s, code ${e.code}, signal ${e.signal}; last lines: ${e.lastLines.join(' ')}`));
  section('Worker start failures', o.workerStartFailures);
  lines.push('', '## Queue metrics at the end (GET /api/queues/metrics)', '', '```json', JSON.stringify(v.queueMetrics), '```', '');
  return lines.join('\n');
}
