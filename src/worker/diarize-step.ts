/**
 * The processor's diarization step, after a meeting's chunks are all saved:
 * speaker turns from the inference thread, recorded on the meeting (fenced by
 * the epoch). A resumed job whose meeting already has them skips the step. A
 * diarization that fails is recorded as failed with its reason and the
 * meeting completes with its transcript intact; only an abort (shutdown,
 * time limit, lost lock) or a newer owner stops the job.
 */
import { clientSafeMessage, coerceError, StaleWriteError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { DiarizationRecord, MeetingRepository, TranscriptionOptions } from '../core/meetings/meeting.repository.js';
import type { Transcriber } from '../inference/types.js';

export interface DiarizeStepInput {
  meetingId: string;
  epoch: number;
  audioUri: string;
  options: TranscriptionOptions | undefined;
  /** The meeting's record at pickup, if an earlier attempt wrote one. */
  existing: DiarizationRecord | undefined;
  transcriber: Pick<Transcriber, 'diarize'>;
  meetings: Pick<MeetingRepository, 'recordDiarization'>;
  signal: AbortSignal;
  log: Logger;
}

const round = (t: number) => Math.round(t * 1000) / 1000;

/** Runs and records the diarization when the options ask for it; returns what was recorded (undefined when not asked). */
export async function diarizeStep(input: DiarizeStepInput): Promise<DiarizationRecord | undefined> {
  const { options, log } = input;
  if (!options?.diarize) return undefined;
  if (input.existing?.status === 'completed') {
    log.info({ speakers: input.existing.speakers }, 'diarization already saved by an earlier attempt; not run again');
    return input.existing;
  }
  const started = Date.now();
  log.info('diarizing');
  let record: DiarizationRecord;
  try {
    if (!input.transcriber.diarize) throw new Error('this worker cannot diarize');
    const result = await input.transcriber.diarize(input.audioUri, {
      numSpeakers: options.numSpeakers,
      minSpeakers: options.minSpeakers,
      maxSpeakers: options.maxSpeakers,
      signal: input.signal,
    });
    input.signal.throwIfAborted();
    record = {
      status: 'completed',
      speakers: result.speakers,
      turns: result.turns.map((t) => ({ start: round(t.start), end: round(t.end), speaker: t.speaker })),
      finishedAt: new Date(),
    };
    log.info({ speakers: result.speakers, turns: result.turns.length, ms: Date.now() - started }, 'diarization saved');
  } catch (thrown) {
    const err = coerceError(thrown);
    if (input.signal.aborted || err instanceof StaleWriteError) throw err;
    record = { status: 'failed', speakers: 0, turns: [], error: clientSafeMessage(`diarization failed: ${err.message}`), finishedAt: new Date() };
    log.warn({ err: { message: err.message, name: err.name }, ms: Date.now() - started }, 'diarization failed; the transcript is kept without speakers');
  }
  await input.meetings.recordDiarization(input.meetingId, input.epoch, record);
  return record;
}
