/**
 * The meeting's transcription state machine, as pure data. Repositories turn
 * each transition into a conditional update whose filter is `from`, so two
 * writers racing for the same transition can never both win.
 *
 *   pending ──claim──> processing ──complete──> completed
 *                        │  ▲
 *                        │  └─ claim again (a retry or a resumed job: stays processing)
 *                        └────fail (last attempt)──> failed ──retry (API)──> pending
 *
 *   pending | processing ──cancel (API)──> canceled ──restart (a new start)──> pending
 */
export const TRANSCRIPTION_STATUSES = ['pending', 'processing', 'completed', 'failed', 'canceled'] as const;
export type TranscriptionStatus = (typeof TRANSCRIPTION_STATUSES)[number];

export type Transition = 'claim' | 'complete' | 'fail' | 'retry' | 'cancel' | 'restart';

/** For each transition, the statuses it may start from and the one it ends in. */
export const TRANSITIONS: Readonly<Record<Transition, { from: readonly TranscriptionStatus[]; to: TranscriptionStatus }>> = {
  claim: { from: ['pending', 'processing'], to: 'processing' },
  complete: { from: ['processing'], to: 'completed' },
  fail: { from: ['processing', 'pending'], to: 'failed' },
  retry: { from: ['failed'], to: 'pending' },
  cancel: { from: ['pending', 'processing'], to: 'canceled' },
  restart: { from: ['canceled'], to: 'pending' },
};

export function canTransition(current: TranscriptionStatus, transition: Transition): boolean {
  return TRANSITIONS[transition].from.includes(current);
}

/** A live meeting is one a worker should (still) transcribe. */
export function isLive(status: TranscriptionStatus): boolean {
  return status === 'pending' || status === 'processing';
}
