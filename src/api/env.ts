import type { RequestIdVariables } from 'hono/request-id';
import type { Logger } from '../core/logger.js';

/** Per-request variables every handler can read: the request id and a logger bound to it. */
export interface AppEnv {
  Variables: RequestIdVariables & { logger: Logger };
}
