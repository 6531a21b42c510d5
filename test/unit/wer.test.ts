import { describe, expect, it } from 'vitest';
import { alignWords, editsBetween, sumEdits, toWords, werOf } from '../../bench/lib/wer.js';

const identity = (text: string): string => text;

describe('alignWords', () => {
  it('counts nothing for identical word lists', () => {
    expect(alignWords(['a', 'b', 'c'], ['a', 'b', 'c'])).toEqual({ substitutions: 0, deletions: 0, insertions: 0, refWords: 3 });
  });

  it('splits edits into substitutions, deletions and insertions', () => {
    expect(alignWords(['the', 'cat', 'sat'], ['the', 'hat', 'sat'])).toMatchObject({ substitutions: 1, deletions: 0, insertions: 0 });
    expect(alignWords(['the', 'cat', 'sat'], ['the', 'sat'])).toMatchObject({ substitutions: 0, deletions: 1, insertions: 0 });
    expect(alignWords(['the', 'cat', 'sat'], ['the', 'fat', 'cat', 'sat'])).toMatchObject({
      substitutions: 0,
      deletions: 0,
      insertions: 1,
    });
  });

  it('handles empty sides', () => {
    expect(alignWords([], [])).toEqual({ substitutions: 0, deletions: 0, insertions: 0, refWords: 0 });
    expect(alignWords(['a', 'b'], [])).toEqual({ substitutions: 0, deletions: 2, insertions: 0, refWords: 2 });
    expect(alignWords([], ['x', 'y', 'z'])).toEqual({ substitutions: 0, deletions: 0, insertions: 3, refWords: 0 });
  });

  it('finds the minimum distance, matching a brute-force Levenshtein on random word lists', () => {
    const levenshtein = (a: string[], b: string[]): number => {
      const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
      for (let i = 1; i <= a.length; i++) {
        for (let j = 1; j <= b.length; j++) {
          d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
        }
      }
      return d[a.length][b.length];
    };
    // deterministic LCG so the case set is fixed
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const vocab = ['a', 'b', 'c', 'd'];
    for (let k = 0; k < 200; k++) {
      const ref = Array.from({ length: rand(9) }, () => vocab[rand(4)]);
      const hyp = Array.from({ length: rand(9) }, () => vocab[rand(4)]);
      const e = alignWords(ref, hyp);
      expect(e.substitutions + e.deletions + e.insertions).toBe(levenshtein(ref, hyp));
      // every reference word is matched, substituted or deleted; every hypothesis word matched, substituted or inserted
      expect(e.deletions - e.insertions).toBe(ref.length - hyp.length);
    }
  });
});

describe('werOf and sumEdits', () => {
  it('computes WER as errors over reference words, above 1 when output runs away', () => {
    expect(werOf(editsBetween('a b c d', 'a x c d', identity))).toBe(0.25);
    expect(werOf(editsBetween('a b', 'a b a b a b', identity))).toBe(2);
    expect(werOf(editsBetween('', '', identity))).toBe(0);
    expect(werOf(editsBetween('', 'you', identity))).toBe(Number.POSITIVE_INFINITY);
  });

  it('corpus WER sums edits and reference words instead of averaging utterance WERs', () => {
    const short = editsBetween('yes', 'no', identity); // 100 % on 1 word
    const long = editsBetween('a b c d e f g h i', 'a b c d e f g h i', identity); // 0 % on 9 words
    const total = sumEdits([short, long]);
    expect(total).toEqual({ substitutions: 1, deletions: 0, insertions: 0, refWords: 10 });
    expect(werOf(total)).toBeCloseTo(0.1, 10);
  });

  it('splits text on any whitespace', () => {
    expect(toWords('  a \n b\tc  ')).toEqual(['a', 'b', 'c']);
    expect(toWords('   ')).toEqual([]);
  });
});
