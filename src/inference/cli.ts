/**
 * `npm run transcribe -- <file> [options]`: transcribes one local audio or
 * video file and prints the transcript on stdout. Progress goes to stderr: a
 * bar when stderr is a terminal, one plain line per chunk otherwise. JSON
 * logs only on request (`--verbose`, or LOG_LEVEL), as whisper.cpp and
 * faster-whisper users expect.
 */
import { stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { AppError } from '../core/errors.js';
import { createLogger, type Logger } from '../core/logger.js';
import { labelSpeakers } from '../core/meetings/speakers.js';
import { formatTranscript, TRANSCRIPT_FORMATS, type TranscriptFormat } from '../core/transcript-format.js';
import { formatRttm } from './diarization/turns.js';
import { probe } from './audio/probe.js';
import { createTranscriber } from './transcriber.js';
import type { ChunkPlan, Segment, Transcriber } from './types.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const USAGE = `Usage: npm run transcribe -- <file> [options]

Transcribes a local audio or video file with Whisper and prints the transcript.

Options:
  --model <name|dir>    tiny, base, small, or a model folder        (default: tiny)
  --models-dir <dir>    where named models are looked up first      (default: ./models)
  --format <fmt>        text, json, srt, vtt or rttm                (default: text)
  --language <code>     ISO 639-1 code, e.g. en; detected when omitted
  --task <task>         transcribe or translate                     (default: transcribe)
  --prompt <text>       vocabulary hint (names, jargon) given to every window
  --word-timestamps     time every word (JSON: words per segment; SRT/VTT: one cue per word)
  --diarize             label speakers: [Speaker 1] in text and SRT, <v Speaker 1> in VTT,
                        speaker in JSON; --format rttm prints the speaker turns
  --num-speakers <n>    exactly this many speakers (implies --diarize; estimated otherwise)
  --batch-size <n>      chunks decoded together                     (default: 1)
  --threads <n>         ONNX threads                                (default: all cores)
  --planner <p>         vad (cut at pauses) or fixed (30-s windows) (default: vad)
  --device <d>          auto, cpu or cuda                           (default: auto)
  --verbose             JSON logs at debug level on stderr (or set LOG_LEVEL)
  -h, --help            show this help
`;

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

class UsageError extends Error {}

function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got "${value}"`);
  return n;
}

function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got "${value}"`);
  return value as T;
}

function parse(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      'models-dir': { type: 'string' },
      format: { type: 'string' },
      language: { type: 'string' },
      task: { type: 'string' },
      prompt: { type: 'string' },
      'word-timestamps': { type: 'boolean' },
      diarize: { type: 'boolean' },
      'num-speakers': { type: 'string' },
      'batch-size': { type: 'string' },
      threads: { type: 'string' },
      planner: { type: 'string' },
      device: { type: 'string' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return { help: true as const };
  if (positionals.length !== 1) throw new UsageError('expected exactly one input file (see --help)');
  return {
    help: false as const,
    file: positionals[0],
    model: values.model ?? 'tiny',
    modelsDir: values['models-dir'] ?? 'models',
    format: oneOf('format', values.format, [...TRANSCRIPT_FORMATS, 'rttm' as const]) ?? 'text',
    language: values.language,
    task: oneOf('task', values.task, ['transcribe', 'translate'] as const),
    prompt: values.prompt,
    wordTimestamps: values['word-timestamps'] ?? false,
    numSpeakers: positiveInt('num-speakers', values['num-speakers']),
    diarize: Boolean(values.diarize || values['num-speakers'] !== undefined || values.format === 'rttm'),
    batchSize: positiveInt('batch-size', values['batch-size']),
    threads: positiveInt('threads', values.threads),
    planner: oneOf('planner', values.planner, ['vad', 'fixed'] as const),
    device: oneOf('device', values.device, ['auto', 'cpu', 'cuda'] as const),
    verbose: values.verbose ?? false,
  };
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** Chunks done, audio seconds per wall second and ETA, as a bar (TTY) or a log line per chunk. */
class Progress {
  private done = 0;
  private audioDone = 0;
  private readonly started = performance.now();
  private readonly totalAudio: number;

  constructor(
    private readonly plan: ChunkPlan,
    private readonly io: CliIo,
    private readonly log: Logger,
  ) {
    this.totalAudio = plan.chunks.reduce((sum, c) => sum + (c.end - c.start), 0);
    if (this.tty) this.draw();
  }

  private get tty(): boolean {
    return Boolean(this.io.stderr.isTTY);
  }

  chunkDone(index: number, start: number, end: number, segments: number): void {
    this.done++;
    this.audioDone += end - start;
    const wall = (performance.now() - this.started) / 1000;
    const speed = wall > 0 ? this.audioDone / wall : 0;
    const eta = speed > 0 ? (this.totalAudio - this.audioDone) / speed : Infinity;
    if (this.tty) return this.draw(speed, eta);
    const line = { chunk: index, done: this.done, total: this.plan.chunks.length, start, end, segments, speed: Math.round(speed * 10) / 10, etaSec: Math.round(eta) };
    // With JSON logs on, progress is a log line too; otherwise one line a person can read.
    if (this.log.isLevelEnabled('info')) this.log.info(line, 'chunk done');
    else this.io.stderr.write(`${this.done}/${line.total} chunks  ${speed.toFixed(1)}x real time  ETA ${clock(eta)}\n`);
  }

  private draw(speed = 0, eta = Infinity): void {
    const total = this.plan.chunks.length;
    const width = 24;
    const filled = total ? Math.round((this.done / total) * width) : width;
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
    this.io.stderr.write(
      `\r[${bar}] ${this.done}/${total} chunks  ${speed.toFixed(1)}x real time  ETA ${clock(eta)}  `,
    );
  }

  /** Runs `write` with the bar erased, so transcript lines on the same terminal stay clean. */
  around(write: () => void): void {
    if (this.tty) this.io.stderr.write('\r\x1b[K');
    write();
  }

  finish(): void {
    if (this.tty) this.io.stderr.write('\n');
  }
}

/**
 * Runs the CLI with `argv` (without node and script) and returns the exit
 * code: 0 on success, 1 on bad input or options, 130 when interrupted.
 */
export async function runCli(argv: string[], io: CliIo, signal?: AbortSignal): Promise<number> {
  let options: ReturnType<typeof parse>;
  try {
    options = parse(argv);
  } catch (err) {
    io.stderr.write(`error: ${(err as Error).message}\n`);
    return 1;
  }
  if (options.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  // Only the transcript and the progress by default; JSON logs on request.
  const level = options.verbose ? 'debug' : (process.env.LOG_LEVEL ?? 'silent');
  if (!LOG_LEVELS.includes(level)) {
    io.stderr.write(`error: LOG_LEVEL: expected one of ${LOG_LEVELS.join(', ')}\n`);
    return 1;
  }
  const logger = io.stderr === process.stderr
    ? createLogger({ level, stream: 'stderr', name: 'transcribe' })
    : createLogger({ level, name: 'transcribe' }, { write: (line: string) => io.stderr.write(line) });
  let transcriber: Transcriber | undefined;
  try {
    const info = await stat(options.file).catch(() => undefined);
    if (!info) throw new UsageError(`file not found: ${options.file}`);
    if (!info.isFile()) throw new UsageError(`not a regular file: ${options.file}`);
    // Refuse bad input before spending seconds on loading the model.
    await probe(options.file, { ffprobePath: process.env.FFPROBE_PATH || undefined });
    transcriber = await createTranscriber({
      model: options.model,
      modelsDir: options.modelsDir,
      batchSize: options.batchSize,
      threads: options.threads,
      planner: options.planner,
      executionProvider: options.device,
      ffmpegPath: process.env.FFMPEG_PATH || undefined,
      ffprobePath: process.env.FFPROBE_PATH || undefined,
      logger,
    });
    // The plan comes from the same decode as the transcription (onPlan), before the first chunk.
    let plan: ChunkPlan | undefined;
    let progress: Progress | undefined;
    const segments: Segment[] = [];
    let language: string | undefined;
    try {
      for await (const result of transcriber.transcribe(options.file, {
        language: options.language,
        task: options.task,
        prompt: options.prompt,
        wordTimestamps: options.wordTimestamps,
        onPlan: (planned) => {
          plan = planned;
          progress = new Progress(planned, io, logger);
        },
        signal,
      })) {
        segments.push(...result.segments);
        language ??= result.language;
        // Speakers are known only at the end: a diarized text transcript is printed then.
        if (options.format === 'text' && !options.diarize) progress!.around(() => io.stdout.write(formatTranscript('text', result.segments)));
        progress!.chunkDone(result.chunk.index, result.chunk.start, result.chunk.end, result.segments.length);
      }
    } finally {
      progress?.finish();
    }
    const outcome = options.diarize ? await transcriber.diarize!(options.file, { numSpeakers: options.numSpeakers, signal }) : undefined;
    const shown = outcome ? labelSpeakers(segments, { status: 'completed', ...outcome, finishedAt: new Date() }) : segments;
    if (options.format === 'rttm') {
      io.stdout.write(formatRttm(basename(options.file), outcome!.turns));
    } else if (options.format !== 'text' || outcome) {
      io.stdout.write(
        formatTranscript(
          options.format as TranscriptFormat,
          shown,
          {
            model: transcriber.model.name,
            language: language ?? options.language ?? null,
            durationSec: plan!.durationSec,
            planner: plan!.planner,
            chunks: plan!.chunks.length,
            ...(outcome ? { speakers: outcome.speakers } : {}),
          },
          options.wordTimestamps ? 'word' : 'segment',
        ),
      );
    }
    return 0;
  } catch (err) {
    if (signal?.aborted) {
      io.stderr.write('interrupted\n');
      return 130;
    }
    if (err instanceof UsageError || err instanceof AppError) {
      io.stderr.write(`error: ${err.message}\n`);
      return 1;
    }
    io.stderr.write(`error: ${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  } finally {
    await transcriber?.release();
  }
}

const isMain = Boolean(process.argv[1]) && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (isMain) {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort(new Error('interrupted')));
  const code = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }, controller.signal);
  process.exitCode = code;
}
