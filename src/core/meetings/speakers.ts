/**
 * Speakers of a meeting's transcript, from its diarization record: each
 * segment and word gets the speaker who talks most within it (or the nearest
 * turn within a second), labelled as clients see it ("Speaker 1"). Pure.
 */
import { speakerForSpan, speakerLabel, type SpeakerTurn } from '../../inference/diarization/turns.js';
import type { DiarizationRecord } from './meeting.repository.js';

interface Timed {
  start: number;
  end: number;
}

/** The segments with `speaker` set (and on their words) when the record has turns; unchanged otherwise. */
export function labelSpeakers<S extends Timed & { words?: readonly Timed[] }>(
  segments: readonly S[],
  diarization: DiarizationRecord | undefined,
): (S & { speaker?: string })[] {
  if (diarization?.status !== 'completed' || diarization.turns.length === 0) return [...segments];
  const turns = turnsOf(diarization);
  const label = (span: Timed) => {
    const speaker = speakerForSpan(turns, span.start, span.end);
    return speaker === null ? undefined : speakerLabel(speaker);
  };
  return segments.map((s) => {
    const speaker = label(s);
    const words = s.words?.map((w) => ({ ...w, ...(label(w) ? { speaker: label(w) } : {}) }));
    return { ...s, ...(speaker ? { speaker } : {}), ...(words ? { words } : {}) };
  });
}

export function turnsOf(diarization: DiarizationRecord): SpeakerTurn[] {
  return diarization.turns.map(({ start, end, speaker }) => ({ start, end, speaker }));
}

/** What the JSON transcript says about diarization: `{ diarization: { status, speakers, error? } }`, or nothing. */
export function diarizationSummary(diarization: DiarizationRecord | undefined): Record<string, unknown> {
  if (!diarization) return {};
  const { status, speakers, error } = diarization;
  return { diarization: { status, speakers, ...(error ? { error } : {}) } };
}
