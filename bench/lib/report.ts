import type { BenchItem, BenchSet } from './dataset.js';
import type { EngineResult } from './engine-job.js';
import type { RowPlan } from './rows.js';
import { editsBetween, sumEdits, werOf, type WordEdits } from './wer.js';

export interface SetScore {
  /** Items transcribed / items asked for. */
  done: number;
  total: number;
  audioSec: number;
  wallSec: number;
  /** Audio seconds per wall second (higher is faster). */
  speed: number;
  edits: WordEdits;
  /** Percent. */
  werPct: number;
}

export interface RowScore {
  plan: RowPlan;
  result: EngineResult;
  sets: Partial<Record<BenchSet, SetScore>>;
}

/** Scores one row: corpus WER (sum of edits / sum of reference words) and speed per set. */
export function scoreRow(plan: RowPlan, result: EngineResult, items: readonly BenchItem[], normalize: (t: string) => string): RowScore {
  const byId = new Map(result.items.map((r) => [r.id, r]));
  const sets: Partial<Record<BenchSet, SetScore>> = {};
  for (const set of [...new Set(items.map((i) => i.set))]) {
    const inSet = items.filter((i) => i.set === set);
    const done = inSet.filter((i) => byId.has(i.id));
    if (done.length === 0) continue;
    const edits = sumEdits(done.map((i) => editsBetween(i.reference, byId.get(i.id)?.text ?? '', normalize)));
    const audioSec = done.reduce((s, i) => s + i.durationSec, 0);
    const wallSec = done.reduce((s, i) => s + (byId.get(i.id)?.wallSec ?? 0), 0);
    sets[set] = { done: done.length, total: inSet.length, audioSec, wallSec, speed: audioSec / wallSec, edits, werPct: werOf(edits) * 100 };
  }
  return { plan, result, sets };
}

const SET_TITLE: Record<BenchSet, string> = { longform: 'long-form', librispeech: 'LibriSpeech clips' };

function fmt(n: number | undefined, digits: number): string {
  return n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits);
}

/** The one results table (markdown): a row per engine, speed and WER per set, peak RSS, load time, checkpoint. */
export function formatTable(rows: readonly RowScore[], sets: readonly BenchSet[]): string {
  const head = ['engine', 'status'];
  for (const set of sets) head.push(`${SET_TITLE[set]} speed (× RT)`, `${SET_TITLE[set]} WER %`);
  head.push('peak RSS MB', 'load s', 'checkpoint');
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const row of rows) {
    const cells = [row.plan.label, row.result.status];
    for (const set of sets) {
      const s = row.sets[set];
      const partial = s && s.done < s.total ? ` (${s.done}/${s.total})` : '';
      cells.push(fmt(s?.speed, 2) + partial, s ? `${fmt(s.werPct, 2)}${partial}` : '–');
    }
    const ran = row.result.status === 'ok' || row.result.items.length > 0;
    cells.push(ran ? fmt(row.result.maxRssMb, 0) : '–', ran ? fmt(row.result.loadSec, 1) : '–', row.result.checkpoint || '–');
    lines.push(`| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Footer: this project's engine against the targets (WER ±0.5 points of transformers.js, ≥ 3× its speed, ≥ faster-whisper int8). */
export function formatTargets(rows: readonly RowScore[], sets: readonly BenchSet[], sameSizeFw: boolean): string {
  const find = (id: string): RowScore | undefined => rows.find((r) => r.plan.id === id && r.result.items.length > 0);
  const ours = find('ours');
  const tjs = find('transformers');
  const fw = find('fw-int8');
  const out: string[] = ['Targets for this project\'s engine (row "this project"):'];
  if (!ours) {
    out.push('- not evaluated: this project\'s engine did not run (see notes).');
    return out.join('\n');
  }
  for (const set of sets) {
    const a = ours.sets[set];
    if (!a) continue;
    const b = tjs?.sets[set];
    const c = fw?.sets[set];
    if (b) {
      const delta = a.werPct - b.werPct;
      const verdict = Math.abs(delta) <= 0.5 ? 'met' : delta < 0 ? 'better than transformers.js' : 'NOT met';
      out.push(`- ${SET_TITLE[set]}: WER ${fmt(a.werPct, 2)}% vs transformers.js ${fmt(b.werPct, 2)}% (Δ ${delta >= 0 ? '+' : ''}${fmt(delta, 2)} points; target within ±0.5): ${verdict}`);
      const ratio = a.speed / b.speed;
      out.push(`- ${SET_TITLE[set]}: speed ${fmt(ratio, 2)}× transformers.js (target ≥ 3×): ${ratio >= 3 ? 'met' : 'NOT met'}`);
    } else {
      out.push(`- ${SET_TITLE[set]}: no transformers.js figures to compare with`);
    }
    if (c) {
      const ratio = a.speed / c.speed;
      const note = sameSizeFw ? '' : ' (faster-whisper runs a different checkpoint of the same size)';
      out.push(`- ${SET_TITLE[set]}: speed ${fmt(ratio, 2)}× faster-whisper int8 (target ≥ 1×)${note}: ${ratio >= 1 ? 'met' : 'NOT met'}`);
    } else {
      out.push(`- ${SET_TITLE[set]}: no faster-whisper int8 figures to compare with`);
    }
  }
  return out.join('\n');
}
