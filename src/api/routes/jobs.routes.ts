import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { clientSafeMessage, NotFoundError } from '../../core/errors.js';
import { meetingIdOfKey } from '../../core/meetings/meeting-key.js';
import type { JobStatus } from '../../core/transcription-queues.js';
import type { AppDeps } from '../app.js';
import type { AppEnv } from '../env.js';
import { jobParams, validationHook } from '../validation.js';

/**
 * `GET /api/jobs/:jobId`: the guide's getJobStatus, for operators. A project
 * key reads only its project's jobs; another project's job answers the same
 * 404 as a job that does not exist.
 */
export function jobsRoutes(deps: Pick<AppDeps, 'queues'>) {
  return new Hono<AppEnv>().get('/:jobId', zValidator('param', jobParams, validationHook), async (c) => {
    const { jobId } = c.req.valid('param');
    const status = await deps.queues.getJobStatus(jobId);
    const own = c.get('apiKeyProjectId');
    if (!status || (own !== null && status.data.projectId !== own)) throw new NotFoundError(`job ${jobId} not found`);
    return c.json(jobBody(status), 200);
  });
}

/** Job data is cut to what an operator needs: no file paths, no decoding options. */
export function jobBody(s: JobStatus) {
  return {
    jobId: s.jobId,
    queue: s.queue,
    status: s.status,
    progress: s.progress,
    failedReason: s.failedReason === null ? null : clientSafeMessage(s.failedReason),
    attemptsMade: s.attemptsMade,
    data: { meetingId: meetingIdOfKey(s.data.projectId, s.data.meetingId), projectId: s.data.projectId, queue: s.data.queue, durationSec: s.data.durationSec },
    finishedOn: s.finishedOn ? new Date(s.finishedOn).toISOString() : null,
  };
}
