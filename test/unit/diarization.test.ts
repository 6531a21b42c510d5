/** Pure parts of diarization: clustering, turns, speaker assignment, RTTM and DER. */
import { describe, expect, it } from 'vitest';
import { clusterEmbeddings, normalizeRows } from '../../src/inference/diarization/clustering.js';
import { diarizationErrorRate, hungarian } from '../../src/inference/diarization/der.js';
import { regionWindows } from '../../src/inference/diarization/diarizer.js';
import { windowStarts } from '../../src/inference/diarization/speech.js';
import { bridgePauses, formatRttm, speakerForSpan, turnsFromWindows } from '../../src/inference/diarization/turns.js';

/** Unit vectors near one of `centres` (orthogonal axes), with a deterministic wobble. */
function points(assignments: number[], dim = 8): Float32Array {
  const out = new Float32Array(assignments.length * dim);
  assignments.forEach((c, i) => {
    for (let k = 0; k < dim; k++) out[i * dim + k] = (k === c ? 1 : 0) + 0.05 * Math.sin(i * 7 + k * 3);
  });
  return normalizeRows(out, dim);
}

describe('clusterEmbeddings', () => {
  const truth = [0, 0, 1, 1, 0, 2, 2, 2, 1, 0, 2, 1];

  it('finds the groups by threshold, numbered by first appearance', () => {
    expect([...clusterEmbeddings(points(truth), 8, { threshold: 0.5 })]).toEqual(truth);
  });

  it('honours numSpeakers, minSpeakers and maxSpeakers', () => {
    const labels = (opts: object) => new Set(clusterEmbeddings(points(truth), 8, opts)).size;
    expect(labels({ numSpeakers: 2 })).toBe(2);
    expect(labels({ maxSpeakers: 2, threshold: 0.5 })).toBe(2);
    expect(labels({ minSpeakers: 3, threshold: 5 })).toBe(3);
    expect(labels({ threshold: 5 })).toBe(1);
  });

  it('folds a stray window into the nearest speaker', () => {
    const labels = clusterEmbeddings(points([0, 0, 0, 0, 3, 1, 1, 1]), 8, { threshold: 0.5, minClusterSize: 2 });
    expect(new Set(labels).size).toBe(2);
  });

  it('gives nothing for no windows and one label for one', () => {
    expect(clusterEmbeddings(new Float32Array(0), 8).length).toBe(0);
    expect([...clusterEmbeddings(points([0]), 8)]).toEqual([0]);
  });
});

describe('windows', () => {
  it('slides segmentation windows and aligns the last to the end', () => {
    expect(windowStarts(50, 100, 30)).toEqual([0]);
    expect(windowStarts(250, 100, 50)).toEqual([0, 50, 100, 150]);
    expect(windowStarts(260, 100, 50)).toEqual([0, 50, 100, 150, 160]);
  });

  it('covers a region with 148-frame embedding windows', () => {
    expect(regionWindows(100, 75)).toEqual([{ frame: 0, frames: 100 }]);
    expect(regionWindows(300, 75).map((w) => w.frame)).toEqual([0, 75, 150, 152]);
  });
});

describe('turns', () => {
  it('splits a region between windows at the midpoints of their centres and merges one speaker', () => {
    const turns = turnsFromWindows(
      [{ start: 0, end: 4 }],
      [
        { region: 0, start: 0, end: 1.5, speaker: 0 },
        { region: 0, start: 0.75, end: 2.25, speaker: 0 },
        { region: 0, start: 1.5, end: 3, speaker: 1 },
        { region: 0, start: 2.5, end: 4, speaker: 1 },
      ],
    );
    expect(turns).toEqual([
      { start: 0, end: 1.875, speaker: 0 },
      { start: 1.875, end: 4, speaker: 1 },
    ]);
  });

  it('bridges short pauses of one speaker only', () => {
    const turns = [
      { start: 0, end: 1, speaker: 0 },
      { start: 1.3, end: 2, speaker: 0 },
      { start: 2.2, end: 3, speaker: 1 },
      { start: 5, end: 6, speaker: 1 },
    ];
    expect(bridgePauses(turns, 0.5)).toEqual([
      { start: 0, end: 2, speaker: 0 },
      { start: 2.2, end: 3, speaker: 1 },
      { start: 5, end: 6, speaker: 1 },
    ]);
  });

  it('gives a span the speaker who talks most in it, else the nearest within a second', () => {
    const turns = [
      { start: 0, end: 2, speaker: 0 },
      { start: 2, end: 5, speaker: 1 },
    ];
    expect(speakerForSpan(turns, 1, 4)).toBe(1);
    expect(speakerForSpan(turns, 0, 2.5)).toBe(0);
    expect(speakerForSpan(turns, 5.5, 6)).toBe(1);
    expect(speakerForSpan(turns, 8, 9)).toBeNull();
    expect(speakerForSpan([], 0, 1)).toBeNull();
  });

  it('writes RTTM lines', () => {
    expect(formatRttm('meeting 1', [{ start: 1.5, end: 3.25, speaker: 1 }])).toBe(
      'SPEAKER meeting_1 1 1.500 1.750 <NA> <NA> Speaker_2 <NA> <NA>\n',
    );
  });
});

describe('diarizationErrorRate', () => {
  const reference = [
    { start: 0, end: 10, speaker: 'a' },
    { start: 12, end: 20, speaker: 'b' },
  ];

  it('is zero for a perfect hypothesis under any labels', () => {
    const result = diarizationErrorRate(reference, [
      { start: 0, end: 10, speaker: 7 },
      { start: 12, end: 20, speaker: 3 },
    ]);
    expect(result.der).toBe(0);
    expect(result.hypothesisSpeakers).toBe(2);
  });

  it('counts confusion, missed speech and false alarm outside the collar', () => {
    const result = diarizationErrorRate(
      reference,
      [
        { start: 0, end: 5, speaker: 'x' },
        { start: 5, end: 10, speaker: 'y' },
        { start: 12, end: 16, speaker: 'y' },
        { start: 22, end: 23, speaker: 'y' },
      ],
      { collar: 0 },
    );
    expect(result.speech).toBeCloseTo(18, 5);
    expect(result.missed).toBeCloseTo(4, 5);
    expect(result.falseAlarm).toBeCloseTo(1, 5);
    expect(result.confusion).toBeCloseTo(5, 5);
    expect(result.der).toBeCloseTo(10 / 18, 5);
  });

  it('leaves the collar around reference boundaries unscored', () => {
    const result = diarizationErrorRate(reference, [
      { start: 0.2, end: 9.8, speaker: 'a' },
      { start: 12.2, end: 20, speaker: 'b' },
    ]);
    expect(result.der).toBe(0);
  });

  it('maps speakers one-to-one (Hungarian)', () => {
    expect(hungarian([
      [4, 1, 3],
      [2, 0, 5],
      [3, 2, 2],
    ])).toEqual([1, 0, 2]);
  });
});
