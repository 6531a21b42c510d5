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

/**
 * WER of this engine's row on each set before the prepared graphs (bench/results/2026-11-28-163e76f-inference.md,
 * whisper-base q8): the prepared engine must not be worse.
 */
const BASELINE_WER_PCT: Record<BenchSet, number> = { longform: 11.88, librispeech: 8.94 };
/** Peak RSS allowed at the default settings. */
const MAX_RSS_MB = 1000;

function verdict(met: boolean): string {
  return met ? 'met' : 'NOT met';
}

/**
 * Footer: this project's engine (row "ours") against its targets: ≥ 1.5× faster-whisper
 * int8+VAD on the long-form file, ≥ 2× faster-whisper int8 on the clips, WER no worse than
 * the baseline on either set and long-form within 1 point of the clips, peak RSS ≤ 1 GB;
 * and, for reference, WER and speed against transformers.js when it ran.
 */
export function formatTargets(rows: readonly RowScore[], sets: readonly BenchSet[], sameSizeFw: boolean): string {
  const find = (id: string): RowScore | undefined => rows.find((r) => r.plan.id === id && r.result.items.length > 0);
  const ours = find('ours');
  const out: string[] = [`Targets for this project's engine (row "${ours?.plan.label ?? 'ours'}"):`];
  if (!ours) {
    out.push("- not evaluated: this project's engine did not run (see notes).");
    return out.join('\n');
  }
  const note = sameSizeFw ? '' : ' (faster-whisper runs a different checkpoint of the same size)';
  const speedTargets: Record<BenchSet, { row: string; name: string; factor: number }> = {
    longform: { row: 'fw-int8-vad', name: 'faster-whisper int8+VAD', factor: 1.5 },
    librispeech: { row: 'fw-int8', name: 'faster-whisper int8', factor: 2 },
  };
  for (const set of sets) {
    const a = ours.sets[set];
    if (!a) continue;
    const target = speedTargets[set];
    const peer = find(target.row)?.sets[set];
    if (peer) {
      const ratio = a.speed / peer.speed;
      out.push(`- ${SET_TITLE[set]}: speed ${fmt(ratio, 2)}× ${target.name} (target ≥ ${target.factor}×)${note}: ${verdict(ratio >= target.factor)}`);
    } else {
      out.push(`- ${SET_TITLE[set]}: no ${target.name} figures to compare with`);
    }
    const baseline = BASELINE_WER_PCT[set];
    out.push(`- ${SET_TITLE[set]}: WER ${fmt(a.werPct, 2)}% (target ≤ ${baseline}%, this engine before prepared graphs): ${verdict(a.werPct <= baseline)}`);
    const tjs = find('transformers')?.sets[set];
    if (tjs) {
      const delta = a.werPct - tjs.werPct;
      out.push(`- ${SET_TITLE[set]}: WER Δ ${delta >= 0 ? '+' : ''}${fmt(delta, 2)} points and speed ${fmt(a.speed / tjs.speed, 2)}× transformers.js`);
    }
  }
  const long = ours.sets.longform;
  const clips = ours.sets.librispeech;
  if (long && clips) {
    const gap = long.werPct - clips.werPct;
    out.push(`- long-form WER within 1 point of the clips: ${fmt(gap, 2)} points apart: ${verdict(gap <= 1)}`);
  }
  out.push(`- peak RSS ${fmt(ours.result.maxRssMb, 0)} MB (target ≤ ${MAX_RSS_MB} MB): ${verdict(ours.result.maxRssMb <= MAX_RSS_MB)}`);
  return out.join('\n');
}
