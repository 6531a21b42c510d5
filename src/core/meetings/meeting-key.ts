/**
 * Meeting ids belong to their project: two projects may each have a meeting
 * `m1`, and neither can tell (no 409) that the other has one. The meetings
 * collection's `_id` is therefore the meeting's key `<projectId>.<meetingId>`
 * ("." is in neither id, so the key splits one way only, and BullMQ accepts
 * it in job ids, which `:` would break). Segments, checkpoints, the change
 * log, job ids (`transcription-<key>`), the reconciler and workers use the
 * key; clients only ever see the meeting id, which the document also stores.
 *
 * Meetings registered before ids were scoped keep their bare id as `_id`:
 * look-ups by project and meeting id try both (storedKeys).
 */
export function meetingKey(projectId: string, meetingId: string): string {
  return `${projectId}.${meetingId}`;
}

/** The `_id`s a project's meeting may be stored under: its key, or (registered before scoping) its bare id. */
export function storedKeys(projectId: string, meetingId: string): string[] {
  return [meetingKey(projectId, meetingId), meetingId];
}

/** The id clients use for a meeting, from its document. */
export function publicMeetingId(meeting: { _id: string; meetingId?: string }): string {
  return meeting.meetingId ?? meeting._id;
}

/** The id clients use, from a key of the project (a job's data holds both). */
export function meetingIdOfKey(projectId: string, key: string): string {
  return key.startsWith(`${projectId}.`) ? key.slice(projectId.length + 1) : key;
}
