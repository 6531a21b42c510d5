/** Word timing checks against the long-form file's exact clip boundaries. */
import type { Segment, Word } from '../../src/inference/types.js';
import type { LongformSegment } from './fixtures.js';

/** How far (seconds) a clip's first word may start before / after the clip starts, and its last word end before / after it ends. */
export const WORD_BOUNDS = { startEarly: 0.2, startLate: 0.6, endEarly: 0.6, endLate: 0.2 };

export interface ClipWords {
  clip: string;
  start: number;
  end: number;
  firstWord?: Word;
  lastWord?: Word;
  ok: boolean;
}

/**
 * Gives each word to the clip its midpoint falls in, or in a gap to the
 * nearer clip, and checks each clip's first and last word against its bounds.
 */
export function clipWordBounds(clips: readonly LongformSegment[], segments: readonly Segment[]): ClipWords[] {
  const words = segments.flatMap((s) => s.words ?? []);
  const owner = (t: number): number => {
    let best = 0;
    let bestDistance = Infinity;
    clips.forEach((c, k) => {
      const distance = t < c.start_s ? c.start_s - t : t > c.end_s ? t - c.end_s : 0;
      if (distance < bestDistance) [best, bestDistance] = [k, distance];
    });
    return best;
  };
  const byClip = clips.map((): Word[] => []);
  for (const w of words) byClip[owner((w.start + w.end) / 2)].push(w);
  return clips.map((c, k) => {
    const own = byClip[k];
    const firstWord = own[0];
    const lastWord = own.at(-1);
    const ok =
      firstWord !== undefined &&
      lastWord !== undefined &&
      firstWord.start >= c.start_s - WORD_BOUNDS.startEarly &&
      firstWord.start <= c.start_s + WORD_BOUNDS.startLate &&
      lastWord.end >= c.end_s - WORD_BOUNDS.endEarly &&
      lastWord.end <= c.end_s + WORD_BOUNDS.endLate;
    return { clip: (c as LongformSegment & { clip?: string }).clip ?? String(k), start: c.start_s, end: c.end_s, firstWord, lastWord, ok };
  });
}
