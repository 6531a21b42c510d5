/** Receives download progress; the CLI draws it, tests may record it. */
export interface ProgressSink {
  /** A file transfer begins with `already` bytes kept from an earlier `.part`. */
  start(file: string, total: number, already: number): void;
  /** `bytes` more arrived for the current file. */
  advance(bytes: number): void;
  /** The current file is finished (verified, skipped or failed). */
  finish(file: string, note: string): void;
  /** A free-form status line. */
  message(line: string): void;
}

/** A stream the progress is written to: stderr, usually. */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** Redraw a bar in place (TTY) or print log lines. @defaultValue stream.isTTY */
  tty?: boolean;
  /** Clock in milliseconds, for speed figures. @defaultValue Date.now */
  now?: () => number;
  /** Minimum milliseconds between two bar redraws. @defaultValue 100 */
  redrawMs?: number;
  /** Log mode: seconds between lines, besides one line per 10 %. @defaultValue 10 */
  logEverySec?: number;
}

/** A ProgressSink that draws a bar on a terminal and writes sparse log lines elsewhere. */
export function createProgress(stream: ProgressStream, options: ProgressOptions = {}): ProgressSink {
  const tty = options.tty ?? Boolean(stream.isTTY);
  const now = options.now ?? Date.now;
  const redrawMs = options.redrawMs ?? 100;
  const logEveryMs = (options.logEverySec ?? 10) * 1000;
  let file = '';
  let total = 0;
  let done = 0;
  let startedAt = 0;
  let startBytes = 0;
  let lastDraw = 0;
  let lastDecile = -1;
  let barShown = false;

  const clearBar = (): void => {
    if (barShown) stream.write('\r\x1b[K');
    barShown = false;
  };
  const speed = (): string => {
    const seconds = (now() - startedAt) / 1000;
    return seconds > 0 ? `${formatBytes((done - startBytes) / seconds)}/s` : '';
  };
  const draw = (): void => {
    const pct = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 100;
    if (tty) {
      const width = 24;
      const filled = Math.round((pct / 100) * width);
      const line = `${String(pct).padStart(3)}% [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${formatBytes(done)}/${formatBytes(total)} ${speed()} ${file}`;
      const columns = stream.columns ?? 120;
      stream.write(`\r\x1b[K${line.slice(0, columns - 1)}`);
      barShown = true;
    } else {
      stream.write(`${file}: ${pct}% (${formatBytes(done)} of ${formatBytes(total)}) ${speed()}\n`);
    }
  };

  return {
    start(name, size, already) {
      clearBar();
      file = name;
      total = size;
      done = already;
      startBytes = already;
      startedAt = now();
      lastDraw = startedAt;
      lastDecile = total > 0 ? Math.floor((done / total) * 10) : 10;
      if (already > 0) stream.write(`${name}: resuming at ${formatBytes(already)} of ${formatBytes(size)}\n`);
      if (tty) draw();
    },
    advance(bytes) {
      done += bytes;
      const t = now();
      if (tty) {
        if (t - lastDraw >= redrawMs) {
          lastDraw = t;
          draw();
        }
        return;
      }
      const decile = total > 0 ? Math.floor((done / total) * 10) : 10;
      if (decile > lastDecile || t - lastDraw >= logEveryMs) {
        lastDecile = decile;
        lastDraw = t;
        draw();
      }
    },
    finish(name, note) {
      clearBar();
      stream.write(`${name}: ${note}\n`);
    },
    message(line) {
      clearBar();
      stream.write(`${line}\n`);
    },
  };
}

/** `1536` → `1.5 KiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${units[unit]}`;
}
