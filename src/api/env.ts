import type { RequestIdVariables } from 'hono/request-id';
import type { Logger } from '../core/logger.js';

/** Per-request variables every handler can read: the request id and a logger bound to it. */
export interface AppEnv {
  Variables: RequestIdVariables & {
    logger: Logger;
    /** Set by apiKeyAuth: a short hash naming the caller's key in limits and logs (never the key itself). */
    apiKeyId: string;
    /** Set by apiKeyAuth: the one project the caller's key reaches; null for an admin key. */
    apiKeyProjectId: string | null;
    /** Set by uploadSlots on the upload routes (unset when there is no cap): hands the key's upload slot back early (idempotent). */
    releaseUploadSlot?: () => void;
  };
}
