/**
 * Request validation shared by the routes: id schemas and the zod-validator
 * hook that turns a failed parse into the service's error envelope.
 */
import { z } from 'zod';
import { ValidationError } from '../core/errors.js';

/** Project and meeting ids: 1-64 letters, digits, "-" or "_" (they become folder names and job ids). */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export const idSchema = z.string().regex(ID_PATTERN, 'expected 1-64 letters, digits, "-" or "_"');

export const projectParams = z.object({ projectId: idSchema });
export const meetingParams = z.object({ projectId: idSchema, meetingId: idSchema });

/** Job ids are `transcription-<projectId>.<meetingId>` (see meeting-key.ts); anything with other characters cannot exist. */
export const jobParams = z.object({ jobId: z.string().regex(/^[A-Za-z0-9_.-]{1,160}$/, 'expected 1-160 letters, digits, ".", "-" or "_"') });

/** What the hook needs of a zod error (zod 4's classic and core errors both fit). */
interface IssueList {
  issues: readonly { path: readonly PropertyKey[]; message: string }[];
}

/** One readable line per issue: `field: message`. */
export function describeIssues(error: IssueList): string {
  return error.issues
    .map((issue) => {
      const where = issue.path.length ? issue.path.map(String).join('.') : 'value';
      return `${where}: ${issue.message}`;
    })
    .join('; ');
}

/**
 * The `hook` for every zValidator: a failed parse becomes a ValidationError,
 * which `app.onError` answers as `{ error: { code: 'VALIDATION_FAILED', message } }`
 * instead of zod-validator's raw safeParse result.
 */
export function validationHook(result: { success: true } | { success: false; error: IssueList; target: string }, _c: unknown): void {
  if (!result.success) throw new ValidationError(`invalid ${result.target}: ${describeIssues(result.error)}`);
}

/** Parses `value` with `schema` or throws the same ValidationError as the hook (for bodies validated by hand). */
export function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown, target: string): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw new ValidationError(`invalid ${target}: ${describeIssues(result.error)}`);
  return result.data;
}
