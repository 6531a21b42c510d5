/**
 * Timeouts that keep slow or stalled clients from holding sockets: a
 * deadline for the request headers, an idle limit while a request body
 * arrives, and a long overall limit so that big uploads on slow but steady
 * links still finish. Idle keep-alive sockets close after Node's
 * keepAliveTimeout (5 s).
 */
import type { IncomingMessage, Server, ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../core/logger.js';

export interface SlowClientOptions {
  /** A client that has not sent its full request headers by then is disconnected (HTTP_HEADERS_TIMEOUT_MS). */
  headersTimeoutMs: number;
  /** A request body that sends no byte for this long is aborted and its connection closed (UPLOAD_IDLE_TIMEOUT_MS). */
  bodyIdleTimeoutMs: number;
}

/** Longest time one request (an upload) may take to arrive in full, however steadily it arrives. */
export const REQUEST_TIMEOUT_MS = 60 * 60 * 1000;

/**
 * Options for node:http's server. Node enforces headersTimeout (answering
 * 408 and closing) and requestTimeout only when it sweeps its connections,
 * every connectionsCheckingInterval (30 s by default), so the sweep runs at
 * least four times per headers timeout, and at most once a second.
 */
export function slowClientServerOptions(options: SlowClientOptions): ServerOptions {
  return {
    requestTimeout: REQUEST_TIMEOUT_MS,
    headersTimeout: Math.min(options.headersTimeoutMs, REQUEST_TIMEOUT_MS),
    connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(options.headersTimeoutMs / 4))),
  };
}

/**
 * Closes the connection of a request whose body stops arriving for
 * `bodyIdleTimeoutMs`. The socket's idle timer runs only while a body is
 * expected: it is cleared once the body has been read, so a handler that
 * then works or waits for minutes (ffprobe, the `/v1` wait) is not cut off.
 * Destroying the socket makes the handler's body stream fail, and the
 * upload code removes its partial file and records nothing.
 */
export function closeStalledBodies(server: Server, bodyIdleTimeoutMs: number, logger: Logger): void {
  const log = logger.child({ module: 'http' });
  const bodyOf = new WeakMap<Socket, IncomingMessage>();
  server.on('request', (req: IncomingMessage, res) => {
    if (!expectsBody(req)) return;
    const { socket } = req;
    bodyOf.set(socket, req);
    // Node emits 'timeout' on the request only while its body is incomplete; without a listener it would destroy the socket silently.
    req.setTimeout(bodyIdleTimeoutMs, () => {
      log.info({ method: req.method, path: pathOf(req), idleMs: bodyIdleTimeoutMs }, 'request body stalled; closing the connection');
      socket.destroy();
    });
    req.once('end', () => {
      // Once the response is out, Node has put its own keep-alive timeout on the socket: leave that one alone.
      if (bodyOf.get(socket) === req && !res.writableFinished) socket.setTimeout(0);
    });
  });
}

function expectsBody(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '').split('?')[0];
}
