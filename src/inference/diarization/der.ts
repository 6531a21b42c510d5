/**
 * Diarization error rate, as NIST md-eval scores it for single-speaker
 * references: missed speech + false alarm + speaker confusion over the
 * reference speech time, with a collar around every reference boundary left
 * unscored, and hypothesis speakers mapped one-to-one onto reference speakers
 * to maximise overlap (Hungarian assignment). Scored on a 10-ms grid. Pure.
 */

export interface LabelledSpan {
  start: number;
  end: number;
  speaker: string | number;
}

export interface DerResult {
  /** (missed + falseAlarm + confusion) / scored reference speech. */
  der: number;
  missed: number;
  falseAlarm: number;
  confusion: number;
  /** Scored reference speech, seconds. */
  speech: number;
  referenceSpeakers: number;
  hypothesisSpeakers: number;
}

const STEP = 0.01;

/** Minimum-cost perfect assignment on a square cost matrix (Kuhn-Munkres, O(n³)). Returns row → column. */
export function hungarian(cost: number[][]): number[] {
  const n = cost.length;
  const u = new Float64Array(n + 1);
  const v = new Float64Array(n + 1);
  const p = new Int32Array(n + 1);
  const way = new Int32Array(n + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Float64Array(n + 1).fill(Number.POSITIVE_INFINITY);
    const used = new Uint8Array(n + 1);
    do {
      used[j0] = 1;
      const i0 = p[j0]!;
      let delta = Number.POSITIVE_INFINITY;
      let j1 = 0;
      for (let j = 1; j <= n; j++) {
        if (used[j]) continue;
        const cur = cost[i0 - 1]![j - 1]! - u[i0]! - v[j]!;
        if (cur < minv[j]!) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j]! < delta) {
          delta = minv[j]!;
          j1 = j;
        }
      }
      for (let j = 0; j <= n; j++) {
        if (used[j]) {
          u[p[j]!] = u[p[j]!]! + delta;
          v[j] = v[j]! - delta;
        } else {
          minv[j] = minv[j]! - delta;
        }
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0]!;
      p[j0] = p[j1]!;
      j0 = j1;
    } while (j0);
  }
  const assignment = new Array<number>(n).fill(-1);
  for (let j = 1; j <= n; j++) if (p[j]! > 0) assignment[p[j]! - 1] = j - 1;
  return assignment;
}

function grid(spans: readonly LabelledSpan[], frames: number, ids: Map<string | number, number>): Int32Array[] {
  // Per frame, the speakers active (a list, since overlaps are possible).
  const active: Int32Array[] = Array.from({ length: frames }, () => new Int32Array(0));
  for (const span of spans) {
    let id = ids.get(span.speaker);
    if (id === undefined) {
      id = ids.size;
      ids.set(span.speaker, id);
    }
    const from = Math.max(0, Math.round(span.start / STEP));
    const to = Math.min(frames, Math.round(span.end / STEP));
    for (let f = from; f < to; f++) {
      if (!active[f]!.includes(id)) active[f] = Int32Array.from([...active[f]!, id]);
    }
  }
  return active;
}

export function diarizationErrorRate(
  reference: readonly LabelledSpan[],
  hypothesis: readonly LabelledSpan[],
  options: { collar?: number } = {},
): DerResult {
  const collar = options.collar ?? 0.25;
  const end = Math.max(0, ...reference.map((s) => s.end), ...hypothesis.map((s) => s.end));
  const frames = Math.ceil(end / STEP) + 1;
  const refIds = new Map<string | number, number>();
  const hypIds = new Map<string | number, number>();
  const ref = grid(reference, frames, refIds);
  const hyp = grid(hypothesis, frames, hypIds);
  const scored = new Uint8Array(frames).fill(1);
  for (const span of reference) {
    for (const edge of [span.start, span.end]) {
      const from = Math.max(0, Math.round((edge - collar) / STEP));
      const to = Math.min(frames, Math.round((edge + collar) / STEP));
      scored.fill(0, from, to);
    }
  }
  const n = Math.max(refIds.size, hypIds.size, 1);
  const overlap = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  let speech = 0;
  let missed = 0;
  let falseAlarm = 0;
  let errorBeforeMapping = 0;
  for (let f = 0; f < frames; f++) {
    if (!scored[f]) continue;
    const r = ref[f]!;
    const h = hyp[f]!;
    speech += r.length;
    missed += Math.max(0, r.length - h.length);
    falseAlarm += Math.max(0, h.length - r.length);
    errorBeforeMapping += Math.min(r.length, h.length);
    for (const a of r) for (const b of h) overlap[a]![b]! += 1;
  }
  const maxOverlap = Math.max(0, ...overlap.flat());
  const assignment = hungarian(overlap.map((row) => row.map((value) => maxOverlap - value)));
  let matched = 0;
  assignment.forEach((col, row) => {
    if (col >= 0) matched += overlap[row]![col]!;
  });
  // Confusion: frames where both talk but the mapped speakers do not match.
  const confusion = errorBeforeMapping - matched;
  const seconds = (frames_: number) => frames_ * STEP;
  return {
    der: speech > 0 ? (missed + falseAlarm + confusion) / speech : 0,
    missed: seconds(missed),
    falseAlarm: seconds(falseAlarm),
    confusion: seconds(confusion),
    speech: seconds(speech),
    referenceSpeakers: refIds.size,
    hypothesisSpeakers: hypIds.size,
  };
}
