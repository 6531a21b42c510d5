import { UnavailableError } from '../../core/errors.js';

/** Error codes that mean "the host cannot be reached at all", as opposed to a transfer cut midway. */
const UNREACHABLE_CODES = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNREFUSED',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * The reason a host could not be reached, or undefined when the error is of
 * another kind. Walks `cause` chains and AggregateErrors, because Node's fetch
 * wraps the socket error as `TypeError('fetch failed', { cause })` and
 * happy-eyeballs connects report one error per address.
 */
export function unreachableReason(thrown: unknown): string | undefined {
  const seen = new Set<unknown>();
  const queue: unknown[] = [thrown];
  while (queue.length > 0) {
    const current = queue.shift();
    if (current === null || typeof current !== 'object' || seen.has(current)) continue;
    seen.add(current);
    const { code, name, cause } = current as { code?: unknown; name?: unknown; cause?: unknown };
    if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return code;
    if (name === 'TimeoutError') return 'timeout';
    if (cause !== undefined) queue.push(cause);
    if (current instanceof AggregateError) queue.push(...current.errors);
  }
  return undefined;
}

/** The one-line error the CLI prints when the hub cannot be reached. */
export function offlineError(url: string, reason: string, cause: unknown): UnavailableError {
  const host = new URL(url).host;
  return new UnavailableError(
    `cannot reach ${host}: are you offline? (${reason}). On a host without internet, fetch the model elsewhere and copy its folder into MODELS_DIR (see models/README.md).`,
    { cause, details: { host, reason } },
  );
}
