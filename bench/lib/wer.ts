/**
 * Word error rate: word-level Levenshtein alignment of a hypothesis against a
 * reference, with the edit counts split by kind so corpus WER can be summed.
 */

export interface WordEdits {
  substitutions: number;
  deletions: number;
  insertions: number;
  /** Words in the reference (the WER denominator). */
  refWords: number;
}

/** Splits normalised text into words; empty text has no words. */
export function toWords(text: string): string[] {
  return text.split(/\s+/).filter((w) => w.length > 0);
}

/**
 * Minimum edits turning `ref` into `hyp`: S + D + I is the word Levenshtein
 * distance. Where paths tie, a match or substitution is preferred to a deletion and
 * a deletion to an insertion, so the split between kinds is deterministic. Memory O(|hyp|).
 */
export function alignWords(ref: readonly string[], hyp: readonly string[]): WordEdits {
  const m = hyp.length;
  // per cell: total cost and the S/D/I counts of the best path to it
  let cost = new Uint32Array(m + 1);
  let subs = new Uint32Array(m + 1);
  let dels = new Uint32Array(m + 1);
  let ins = new Uint32Array(m + 1);
  for (let j = 0; j <= m; j++) {
    cost[j] = j;
    ins[j] = j;
  }
  let nCost = new Uint32Array(m + 1);
  let nSubs = new Uint32Array(m + 1);
  let nDels = new Uint32Array(m + 1);
  let nIns = new Uint32Array(m + 1);
  for (let i = 1; i <= ref.length; i++) {
    nCost[0] = i;
    nSubs[0] = 0;
    nDels[0] = i;
    nIns[0] = 0;
    const r = ref[i - 1];
    for (let j = 1; j <= m; j++) {
      const same = r === hyp[j - 1];
      const diag = cost[j - 1] + (same ? 0 : 1);
      const up = cost[j] + 1; // deletion of ref word
      const left = nCost[j - 1] + 1; // insertion of hyp word
      if (diag <= up && diag <= left) {
        nCost[j] = diag;
        nSubs[j] = subs[j - 1] + (same ? 0 : 1);
        nDels[j] = dels[j - 1];
        nIns[j] = ins[j - 1];
      } else if (up <= left) {
        nCost[j] = up;
        nSubs[j] = subs[j];
        nDels[j] = dels[j] + 1;
        nIns[j] = ins[j];
      } else {
        nCost[j] = left;
        nSubs[j] = nSubs[j - 1];
        nDels[j] = nDels[j - 1];
        nIns[j] = nIns[j - 1] + 1;
      }
    }
    [cost, nCost] = [nCost, cost];
    [subs, nSubs] = [nSubs, subs];
    [dels, nDels] = [nDels, dels];
    [ins, nIns] = [nIns, ins];
  }
  return { substitutions: subs[m], deletions: dels[m], insertions: ins[m], refWords: ref.length };
}

/** Adds edit counts, for corpus WER over many utterances (sum of edits / sum of reference words). */
export function sumEdits(all: Iterable<WordEdits>): WordEdits {
  const total: WordEdits = { substitutions: 0, deletions: 0, insertions: 0, refWords: 0 };
  for (const e of all) {
    total.substitutions += e.substitutions;
    total.deletions += e.deletions;
    total.insertions += e.insertions;
    total.refWords += e.refWords;
  }
  return total;
}

/**
 * WER as a fraction (0.05 = 5 %); can exceed 1 when the hypothesis inserts many words.
 * An empty reference gives 0 for an empty hypothesis and Infinity otherwise.
 */
export function werOf(edits: WordEdits): number {
  const errors = edits.substitutions + edits.deletions + edits.insertions;
  if (edits.refWords === 0) return errors === 0 ? 0 : Number.POSITIVE_INFINITY;
  return errors / edits.refWords;
}

/** Edits between two texts after the same normalisation (pass the identity to compare raw words). */
export function editsBetween(reference: string, hypothesis: string, normalize: (text: string) => string): WordEdits {
  return alignWords(toWords(normalize(reference)), toWords(normalize(hypothesis)));
}
