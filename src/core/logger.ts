import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

export interface LoggerSettings {
  /** pino level name. @defaultValue 'info' */
  level?: string;
  /** Human-readable output through pino-pretty (a dev dependency); JSON otherwise. @defaultValue false */
  pretty?: boolean;
  /** Service name bound on every line. */
  name?: string;
  /** Where lines go. The CLI logs to stderr so stdout carries only the transcript. @defaultValue 'stdout' */
  stream?: 'stdout' | 'stderr';
}

/**
 * Builds the process's one root logger. Modules, jobs and requests get
 * children of it (`logger.child({ module: 'queue' })`), never a logger of their own.
 * Pass `destination` in tests to capture lines in memory.
 */
export function createLogger(settings: LoggerSettings = {}, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? 'info',
    base: { name: settings.name ?? 'meno', pid: process.pid },
    redact: { paths: ['*.apiKey', '*.apiKeys', '*.authorization', 'req.headers.authorization'], censor: '[redacted]' },
    serializers: { err: pino.stdSerializers.err },
  };
  if (destination) return pino(options, destination);
  const fd = settings.stream === 'stderr' ? 2 : 1;
  if (settings.pretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { destination: fd } } });
  }
  return pino(options, pino.destination({ fd, sync: true }));
}
