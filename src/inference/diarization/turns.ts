/**
 * Speaker turns: labelled embedding windows made into turns, speakers given
 * to transcript segments and words, and the RTTM export. Pure.
 */

/** One stretch of one speaker, in seconds; `speaker` counts from 0. */
export interface SpeakerTurn {
  start: number;
  end: number;
  speaker: number;
}

/** An embedding window inside a speech region, with its cluster label. */
export interface LabelledWindow {
  /** Index of the speech region the window lies in. */
  region: number;
  start: number;
  end: number;
  speaker: number;
}

/**
 * Each region's time goes to the window whose centre is nearest (boundaries
 * halfway between neighbouring centres); neighbours of one speaker merge.
 */
export function turnsFromWindows(regions: { start: number; end: number }[], windows: LabelledWindow[]): SpeakerTurn[] {
  const turns: SpeakerTurn[] = [];
  regions.forEach((region, r) => {
    const inside = windows.filter((w) => w.region === r);
    inside.forEach((w, i) => {
      const centre = (w.start + w.end) / 2;
      const prev = inside[i - 1];
      const next = inside[i + 1];
      const start = prev ? (centre + (prev.start + prev.end) / 2) / 2 : region.start;
      const end = next ? (centre + (next.start + next.end) / 2) / 2 : region.end;
      const last = turns[turns.length - 1];
      if (last && last.speaker === w.speaker && Math.abs(last.end - start) < 1e-6) last.end = end;
      else if (end > start) turns.push({ start, end, speaker: w.speaker });
    });
  });
  return turns;
}

/**
 * Fills pauses of at most `maxGap` seconds between consecutive turns of one
 * speaker: a turn goes on through a breath or a short silence.
 */
export function bridgePauses(turns: readonly SpeakerTurn[], maxGap: number): SpeakerTurn[] {
  const out: SpeakerTurn[] = [];
  for (const turn of turns) {
    const last = out[out.length - 1];
    if (last && last.speaker === turn.speaker && turn.start - last.end <= maxGap) last.end = Math.max(last.end, turn.end);
    else out.push({ ...turn });
  }
  return out;
}

/**
 * The speaker who talks most within [start, end); when no turn overlaps it,
 * the nearest turn within `maxGap` seconds; otherwise null.
 */
export function speakerForSpan(turns: readonly SpeakerTurn[], start: number, end: number, maxGap = 1): number | null {
  const talk = new Map<number, number>();
  let nearest: number | null = null;
  let nearestGap = maxGap;
  for (const turn of turns) {
    const overlap = Math.min(end, turn.end) - Math.max(start, turn.start);
    if (overlap > 0) talk.set(turn.speaker, (talk.get(turn.speaker) ?? 0) + overlap);
    const gap = Math.max(turn.start - end, start - turn.end, 0);
    if (gap <= nearestGap) {
      nearestGap = gap;
      nearest = turn.speaker;
    }
  }
  let best: number | null = null;
  let bestTalk = 0;
  for (const [speaker, seconds] of talk) {
    if (seconds > bestTalk) {
      bestTalk = seconds;
      best = speaker;
    }
  }
  return best ?? nearest;
}

/** The label clients see: "Speaker 1" for speaker 0. */
export function speakerLabel(speaker: number): string {
  return `Speaker ${speaker + 1}`;
}

/** NIST RTTM lines: `SPEAKER <file> 1 <onset> <duration> <NA> <NA> <name> <NA> <NA>`. */
export function formatRttm(fileId: string, turns: readonly SpeakerTurn[]): string {
  const id = fileId.replace(/\s+/g, '_') || 'audio';
  return turns
    .map((t) => `SPEAKER ${id} 1 ${t.start.toFixed(3)} ${(t.end - t.start).toFixed(3)} <NA> <NA> ${speakerLabel(t.speaker).replace(' ', '_')} <NA> <NA>\n`)
    .join('');
}
