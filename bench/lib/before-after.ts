/**
 * What bench/change-log.ts and bench/reconcile.ts share: a markdown table
 * with a "before" column (figures of the previous commit, run in a git
 * worktree and passed in as JSON) beside this checkout's, the machine line,
 * the `--json` / `--before` / `--no-write` flags, and the results file.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { cpuModel } from './machine.js';

/** What each column names: the checkout its figures come from. */
export interface Checkout {
  commit: string;
  dirty: boolean;
}

/** The table's header lines and a row renderer over its one or two columns. */
export function beforeAfterTable<F extends Checkout>(after: F, before: F | undefined) {
  const cols = before ? [before, after] : [after];
  const head = before
    ? `| | before (${before.commit}) | after (${after.commit}${after.dirty ? ', uncommitted changes' : ''}) |\n|---|---|---|`
    : `| | ${after.commit} |\n|---|---|`;
  const row = (label: string, value: (f: F) => string): string => `| ${label} | ${cols.map(value).join(' | ')} |`;
  return { head, row };
}

/** The `- machine:` line, with the load average at start and now (these benches share the machine). */
export function machineLine(loadAtStart: number): string {
  return `- machine: ${cpuModel()}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}; load average ${loadAtStart.toFixed(2)} at start, ${os.loadavg()[0].toFixed(2)} at end (other work shares the machine: timings are noisy)`;
}

/**
 * Parses the bench's own options plus the shared ones, measures, prints the
 * table and writes it to `bench/results/<date>-<commit>-<name>.md` (unless
 * --no-write); --json saves the figures for a later --before.
 */
export async function runBeforeAfter<F extends Checkout, O extends NonNullable<ParseArgsConfig['options']>>(bench: {
  name: string;
  repoRoot: string;
  options: O;
  measure: (values: Record<string, string | boolean | undefined>) => Promise<F>;
  render: (after: F, before: F | undefined, loadAtStart: number) => string;
}): Promise<void> {
  const values = parseArgs({
    options: { ...bench.options, json: { type: 'string' }, before: { type: 'string' }, 'no-write': { type: 'boolean', default: false } },
  }).values as Record<string, string | boolean | undefined>;
  const loadAtStart = os.loadavg()[0];
  const figures = await bench.measure(values);
  if (typeof values.json === 'string') writeFileSync(values.json, JSON.stringify(figures, null, 2));
  const before = typeof values.before === 'string' ? (JSON.parse(readFileSync(values.before, 'utf8')) as F) : undefined;
  const table = bench.render(figures, before, loadAtStart);
  console.log(table);
  if (!values['no-write']) {
    const dir = join(bench.repoRoot, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${new Date().toISOString().slice(0, 10)}-${figures.commit}-${bench.name}.md`);
    writeFileSync(file, table);
    console.error(`wrote ${file}`);
  }
}
