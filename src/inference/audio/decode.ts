import { execFile, spawn } from 'node:child_process';
import { mkdtemp, open, readdir, rm, stat, statfs } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../core/logger.js';
import { BadAudioError, InsufficientStorageError } from '../../core/errors.js';
import { SAMPLE_RATE } from '../types.js';
import { sniffFile, type ContainerFamily } from './sniff.js';
import {
  ALLOWED_DEMUXERS,
  allowedDemuxer,
  assertLocalFile,
  bundledBinaryPaths,
  fileUrlForFfmpeg,
  probe,
  stderrReason,
  type AudioProbe,
} from './probe.js';

/**
 * 16 kHz mono float32 audio that can be read in slices. Decoded files live in
 * a temporary raw file (64 KB per second of audio, 230 MB per hour) so that a
 * multi-hour input never sits in memory: VAD streams over it in blocks and the
 * transcriber reads only the 30-s chunks it decodes.
 */
export interface PcmSource {
  readonly sampleRate: typeof SAMPLE_RATE;
  readonly sampleCount: number;
  /** sampleCount / 16000. */
  readonly durationSec: number;
  /** Raw little-endian float32 file holding the samples, when file-backed. */
  readonly filePath?: string;
  /** In-memory samples, when not file-backed. */
  readonly samples?: Float32Array;
  /** Copies samples [start, end) (clamped to the audio) into a new array. */
  read(startSample: number, endSample: number): Promise<Float32Array>;
  /** Deletes the temporary file. Idempotent. */
  dispose(): Promise<void>;
}

export interface DecodeOptions {
  /** ffmpeg binary (the service fills it from FFMPEG_PATH). @defaultValue the binary of `@ffmpeg-installer/ffmpeg` */
  ffmpegPath?: string;
  /** ffprobe binary (the service fills it from FFPROBE_PATH). @defaultValue the binary of `@ffprobe-installer/ffprobe` */
  ffprobePath?: string;
  /** ffmpeg is killed and the input refused after this many milliseconds. @defaultValue 1_800_000 (30 min) */
  decodeTimeoutMs?: number;
  /** Folder for the temporary decoded audio. @defaultValue os.tmpdir() */
  tempDir?: string;
  /**
   * Longest audio accepted, in seconds: refused when the container declares
   * more, and ffmpeg stops writing just past it when the real audio is longer
   * (a 2-MB FLAC can hold hours of silence). @defaultValue no limit
   */
  maxDurationSec?: number;
  /** Free space the temp folder must keep after the decoded audio is written. @defaultValue 256 MiB */
  minFreeBytes?: number;
  logger: Logger;
}

/** ffmpeg's demuxer for a container the magic bytes identify beyond doubt (ffprobe names the same). */
const SNIFFED_DEMUXER: Partial<Record<ContainerFamily, string>> = {
  wav: 'wav',
  flac: 'flac',
  ogg: 'ogg',
  mp3: 'mp3',
  aac: 'aac',
  mp4: 'mov',
  matroska: 'matroska',
  w64: 'w64',
  aiff: 'aiff',
  caf: 'caf',
  au: 'au',
  amr: 'amr',
};

/**
 * Temporary folders carry host and pid, so that a process killed mid-job
 * (its folder can hold hundreds of MB) can be cleaned up by the next one on
 * the same host; see {@link sweepStaleTempDirs}.
 */
function hostPrefix(): string {
  return `meno-pcm-${hostname().replace(/[^\w.-]/g, '_')}-`;
}

function tempDirPrefix(): string {
  return `${hostPrefix()}${process.pid}-`;
}

/**
 * Deletes decoded-audio folders left in `tempDir` by processes of this host
 * that no longer run (killed workers). Returns how many were removed.
 */
export async function sweepStaleTempDirs(tempDir = tmpdir()): Promise<number> {
  const prefix = hostPrefix();
  let removed = 0;
  for (const name of await readdir(tempDir).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || isAlive(pid)) continue;
    await rm(join(tempDir, name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Decoded audio plus what ffprobe said about the input. */
export interface DecodedAudio {
  pcm: PcmSource;
  probe: AudioProbe;
}

const STDERR_LIMIT = 8 * 1024;
const BYTES_PER_SAMPLE = 4;
const DEFAULT_MIN_FREE_BYTES = 256 * 1024 * 1024;

function mib(bytes: number): string {
  return `${Math.round(bytes / (1024 * 1024))} MiB`;
}

function formatSec(seconds: number): string {
  return seconds >= 3600 ? `${(seconds / 3600).toFixed(1)} h (${Math.round(seconds)} s)` : `${Math.round(seconds)} s`;
}

/** Wraps samples already in memory (16 kHz mono) as a {@link PcmSource}. */
export function pcmFromSamples(samples: Float32Array): PcmSource {
  return {
    sampleRate: SAMPLE_RATE,
    sampleCount: samples.length,
    durationSec: samples.length / SAMPLE_RATE,
    samples,
    read: async (start, end) => samples.slice(clampSample(start, samples.length), clampSample(end, samples.length)),
    dispose: async () => {},
  };
}

function clampSample(index: number, count: number): number {
  return Math.min(Math.max(Math.round(index), 0), count);
}

/**
 * Opens a raw 16 kHz mono float32 file (what {@link AudioDecoder.decode}
 * writes) as a {@link PcmSource}. `dispose()` closes it and, when given,
 * deletes `ownedDir`.
 */
export async function openPcmFile(filePath: string, ownedDir?: string): Promise<PcmSource> {
  const { size } = await stat(filePath);
  const sampleCount = Math.floor(size / BYTES_PER_SAMPLE);
  let handle: Promise<FileHandle> | undefined;
  let disposed = false;
  return {
    sampleRate: SAMPLE_RATE,
    sampleCount,
    durationSec: sampleCount / SAMPLE_RATE,
    filePath,
    async read(start, end) {
      if (disposed) throw new Error('decoded audio was already disposed');
      const from = clampSample(start, sampleCount);
      const to = Math.max(from, clampSample(end, sampleCount));
      const out = new Float32Array(to - from);
      // One handle shared by concurrent reads (the transcriber reads a batch of chunks at once).
      handle ??= open(filePath, 'r');
      const file = await handle;
      const bytes = new Uint8Array(out.buffer);
      let done = 0;
      while (done < bytes.length) {
        const { bytesRead } = await file.read(bytes, done, bytes.length - done, from * BYTES_PER_SAMPLE + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return out;
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await handle?.then((file) => file.close()).catch(() => {});
      if (ownedDir) await rm(ownedDir, { recursive: true, force: true });
    },
  };
}

/**
 * The only place that spawns ffmpeg. Turns any local file ffmpeg can read
 * (wav, flac, mp3, ogg/opus, m4a/aac, video containers) into 16 kHz mono
 * float32, with these guards: the input must be a regular local file (no URL,
 * no protocol prefix), ffmpeg may open only `file` and `pipe`
 * (`-protocol_whitelist`), only container demuxers of
 * {@link ALLOWED_DEMUXERS} (no playlist or concat that opens other files),
 * `-nostdin`, a time limit, and at most 8 KB of stderr kept for the error.
 *
 * Binary paths and version are logged once per decoder.
 */
export class AudioDecoder {
  private readonly ffmpegPath: string;
  private readonly ffprobePath: string;
  private readonly log: Logger;
  private versionsLogged?: Promise<void>;

  constructor(private readonly options: DecodeOptions) {
    const bundled = options.ffmpegPath && options.ffprobePath ? undefined : bundledBinaryPaths();
    this.ffmpegPath = options.ffmpegPath ?? bundled!.ffmpegPath;
    this.ffprobePath = options.ffprobePath ?? bundled!.ffprobePath;
    this.log = options.logger.child({ module: 'audio-decode' });
  }

  /** See {@link probe}. */
  async probe(path: string): Promise<AudioProbe> {
    await this.logVersionsOnce();
    return probe(path, { ffprobePath: this.ffprobePath });
  }

  /**
   * Probes and decodes `path` into a temporary raw file. The caller owns the
   * result and must `pcm.dispose()` it. Throws BadAudioError for anything that
   * is not decodable audio, and the signal's reason when aborted.
   *
   * When the file's magic bytes name its container, ffmpeg starts on that
   * demuxer while ffprobe checks the file, instead of after it: a short clip
   * saves a process start. ffprobe still decides: its error wins, and a
   * container it names differently is decoded again with its demuxer.
   */
  async decode(path: string, signal?: AbortSignal): Promise<DecodedAudio> {
    signal?.throwIfAborted();
    const local = (await assertLocalFile(path)).path;
    const sniffed = await sniffFile(local).then((family) => (family ? SNIFFED_DEMUXER[family] : undefined), () => undefined);
    const speculative = new AbortController();
    const stop = () => speculative.abort(signal?.reason);
    signal?.addEventListener('abort', stop, { once: true });
    try {
      const early = sniffed ? this.decodeAs(local, sniffed, speculative.signal) : undefined;
      early?.catch(() => {});
      let info: AudioProbe;
      try {
        info = await this.probe(path);
        this.assertWithinLimit(info.durationSec, 'declares');
        await this.assertTempSpace(info.durationSec);
      } catch (err) {
        speculative.abort(err);
        await early?.then((pcm) => pcm.dispose(), () => {});
        throw err;
      }
      signal?.throwIfAborted();
      const demuxer = allowedDemuxer(info.formatName);
      if (!demuxer) {
        speculative.abort();
        await early?.then((pcm) => pcm.dispose(), () => {});
        throw new BadAudioError(`container format not accepted: ${info.formatName}`);
      }
      let pcm: PcmSource;
      if (early && demuxer === sniffed) {
        pcm = await early;
      } else {
        if (early) {
          speculative.abort();
          await early.then((p) => p.dispose(), () => {});
        }
        pcm = await this.decodeAs(local, demuxer, signal);
      }
      try {
        this.assertWithinLimit(pcm.durationSec, 'holds');
      } catch (err) {
        await pcm.dispose();
        throw err;
      }
      if (info.durationSec > 0 && pcm.durationSec + 1 < info.durationSec * 0.9) {
        this.log.warn({ declaredSec: info.durationSec, decodedSec: pcm.durationSec }, 'decoded audio is shorter than the container says');
      }
      this.log.info(
        { durationSec: pcm.durationSec, declaredSec: info.durationSec, format: info.formatName, codec: info.codec, overlapped: demuxer === sniffed },
        'audio decoded',
      );
      return { pcm, probe: info };
    } finally {
      signal?.removeEventListener('abort', stop);
    }
  }

  /** BadAudioError when `durationSec` is past maxDurationSec (declared by the container, or found while decoding). */
  private assertWithinLimit(durationSec: number, verb: 'declares' | 'holds'): void {
    const max = this.options.maxDurationSec;
    if (max === undefined || durationSec <= max) return;
    throw new BadAudioError(`the audio ${verb} ${formatSec(durationSec)}; this server accepts at most ${formatSec(max)} (MAX_AUDIO_DURATION_SEC)`, {
      details: { durationSec: Math.round(durationSec), maxDurationSec: max },
    });
  }

  /**
   * InsufficientStorageError when the temp folder cannot take the decoded
   * audio (64 KB per second; the declared duration, or the limit when none is
   * declared) and still keep minFreeBytes free. Retried later, like an outage.
   */
  private async assertTempSpace(declaredSec: number): Promise<void> {
    const dir = this.options.tempDir ?? tmpdir();
    const seconds = declaredSec > 0 ? declaredSec : (this.options.maxDurationSec ?? 0);
    const needed = Math.ceil(seconds * SAMPLE_RATE * BYTES_PER_SAMPLE) + (this.options.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES);
    const fs = await statfs(dir);
    const free = fs.bavail * fs.bsize;
    if (free >= needed) return;
    throw new InsufficientStorageError(
      `not enough free space for the decoded audio: ${mib(needed)} needed (with the reserve), ${mib(free)} free in the temporary folder`,
      { details: { neededBytes: needed, freeBytes: free } },
    );
  }

  /** ffmpeg with a fixed demuxer into a new temporary raw file. */
  private async decodeAs(localPath: string, demuxer: string, signal?: AbortSignal): Promise<PcmSource> {
    const dir = await mkdtemp(join(this.options.tempDir ?? tmpdir(), tempDirPrefix()));
    const outPath = join(dir, 'audio.f32le');
    try {
      await this.runFfmpeg(
        [
          '-nostdin', '-hide_banner', '-v', 'error',
          '-protocol_whitelist', 'file,pipe',
          '-format_whitelist', ALLOWED_DEMUXERS.join(','),
          '-f', demuxer,
          '-i', fileUrlForFfmpeg(localPath),
          '-map', '0:a:0', '-vn', '-sn', '-dn',
          '-ac', '1', '-ar', String(SAMPLE_RATE),
          // Past the limit ffmpeg stops at once; the second more tells "longer" from "exactly at it".
          ...(this.options.maxDurationSec !== undefined ? ['-t', String(this.options.maxDurationSec + 1)] : []),
          '-c:a', 'pcm_f32le', '-f', 'f32le', '-y', outPath,
        ],
        signal,
      );
      const pcm = await openPcmFile(outPath, dir);
      if (pcm.sampleCount === 0) {
        await pcm.dispose();
        throw new BadAudioError('the input holds no audio samples');
      }
      return pcm;
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Decodes a whole (short) file into memory. For tests and small inputs. */
  async decodeToSamples(path: string, signal?: AbortSignal): Promise<Float32Array> {
    const { pcm } = await this.decode(path, signal);
    try {
      return await pcm.read(0, pcm.sampleCount);
    } finally {
      await pcm.dispose();
    }
  }

  private runFfmpeg(args: string[], signal?: AbortSignal): Promise<void> {
    const timeoutMs = this.options.decodeTimeoutMs ?? 1_800_000;
    return new Promise((resolvePromise, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const child = spawn(this.ffmpegPath, args, { stdio: ['ignore', 'ignore', 'pipe'], windowsHide: true });
      let stderr = '';
      let settled = false;
      let failure: Error | undefined;
      const finish = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolvePromise();
      };
      const kill = (reason: Error) => {
        failure ??= reason;
        child.kill('SIGKILL');
      };
      const onAbort = () => kill(signal?.reason instanceof Error ? signal.reason : new DOMException('aborted', 'AbortError'));
      const timer = setTimeout(
        () => kill(new BadAudioError(`decoding took longer than ${timeoutMs} ms; ffmpeg was stopped`, { details: { timeoutMs } })),
        timeoutMs,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (text: string) => {
        stderr = (stderr + text).slice(-STDERR_LIMIT);
      });
      child.on('error', (err: NodeJS.ErrnoException) => {
        finish(new Error(`cannot run ffmpeg at ${this.ffmpegPath}: ${err.code ?? err.message}`, { cause: err }));
      });
      child.on('close', (code, killedBy) => {
        if (failure) return finish(failure);
        if (code === 0) return finish();
        if (/No space left on device/i.test(stderr)) {
          return finish(new InsufficientStorageError('the temporary folder filled up while the audio was decoded'));
        }
        const why = killedBy ? `ffmpeg was killed by ${killedBy}` : stderrReason(stderr);
        finish(new BadAudioError(`not decodable audio: ${why}`));
      });
    });
  }

  private logVersionsOnce(): Promise<void> {
    this.versionsLogged ??= Promise.all([toolVersion(this.ffmpegPath), toolVersion(this.ffprobePath)]).then(
      ([ffmpegVersion, ffprobeVersion]) => {
        this.log.info(
          { ffmpegPath: this.ffmpegPath, ffmpegVersion, ffprobePath: this.ffprobePath, ffprobeVersion },
          'ffmpeg binaries',
        );
      },
    );
    return this.versionsLogged;
  }
}

/** First line of `<tool> -version`, or the reason it could not run. */
function toolVersion(binary: string): Promise<string> {
  return new Promise((resolvePromise) => {
    execFile(binary, ['-version'], { timeout: 10_000, maxBuffer: 1 << 16, killSignal: 'SIGKILL' }, (err, stdout) => {
      if (err) return resolvePromise(`unavailable (${(err as NodeJS.ErrnoException).code ?? err.message})`);
      resolvePromise(String(stdout).split('\n')[0]?.trim() ?? 'unknown');
    });
  });
}
