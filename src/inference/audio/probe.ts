import { execFile } from 'node:child_process';
import { open, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { BadAudioError } from '../../core/errors.js';

/** What {@link probe} learns about an input before it is decoded. */
export interface AudioProbe {
  /** Duration in seconds as the container states it; 0 when the container does not say. */
  durationSec: number;
  /** Codec of the first audio stream, e.g. 'mp3', 'aac', 'pcm_s16le'. */
  codec: string;
  /** ffprobe's demuxer name, e.g. 'wav', 'mov,mp4,m4a,3gp,3g2,mj2'. */
  formatName: string;
  /** Native sample rate of the first audio stream in Hz. */
  sampleRate: number;
  channels: number;
  sizeBytes: number;
}

export interface ProbeOptions {
  /** ffprobe binary. @defaultValue the binary of `@ffprobe-installer/ffprobe` */
  ffprobePath?: string;
  /** Kill ffprobe after this many milliseconds. @defaultValue 30_000 */
  timeoutMs?: number;
}

/**
 * Demuxers ffmpeg may use: audio and audio/video containers that never open
 * other files. Playlists and indirections (concat, hls, dash, sdp, rtp),
 * image sequences, `data`, `lavfi` and raw formats are absent on purpose.
 * Passed as `-format_whitelist`, so ffprobe and ffmpeg refuse anything else.
 */
export const ALLOWED_DEMUXERS: readonly string[] = [
  'wav', 'w64', 'aiff', 'caf', 'flac', 'mp3', 'aac', 'ogg',
  'mov', 'mp4', 'm4a', '3gp', '3g2', 'mj2', 'matroska', 'webm',
  'asf', 'avi', 'mpegts', 'mpeg', 'flv', 'amr', 'wv', 'ape', 'au',
  'ac3', 'eac3', 'dts', 'tta', 'mpc', 'mpc8',
];

const URL_LIKE = /^[a-z][a-z0-9+.-]*:/i;
const MAX_STDOUT_BYTES = 1 << 20;
const MAX_REASON_CHARS = 300;

/** The ffmpeg/ffprobe binaries that ship with the npm installers. */
export function bundledBinaryPaths(): { ffmpegPath: string; ffprobePath: string } {
  const require = createRequire(import.meta.url);
  const ffmpeg = require('@ffmpeg-installer/ffmpeg') as { path: string };
  const ffprobe = require('@ffprobe-installer/ffprobe') as { path: string };
  return { ffmpegPath: ffmpeg.path, ffprobePath: ffprobe.path };
}

/**
 * Checks that `path` names a local regular file and returns its absolute
 * path. URLs and protocol-prefixed names (`http:`, `concat:`, `pipe:`),
 * directories, devices and FIFOs are refused with a BadAudioError.
 */
export async function assertLocalFile(path: string): Promise<{ path: string; sizeBytes: number }> {
  if (typeof path !== 'string' || path.length === 0) throw new BadAudioError('audio path is empty');
  if (URL_LIKE.test(path)) throw new BadAudioError(`only local files are accepted, not URLs or protocols: ${path}`);
  const absolute = resolve(path);
  // Messages name the file, not the folder: they may reach API clients.
  const name = basename(absolute);
  let info;
  try {
    info = await stat(absolute);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new BadAudioError(`cannot read audio file ${name}: ${code ?? 'error'}`, { cause: err });
  }
  if (!info.isFile()) throw new BadAudioError(`not a regular file: ${name}`);
  if (info.size === 0) throw new BadAudioError(`empty file: ${name}`);
  return { path: absolute, sizeBytes: info.size };
}

/** ffmpeg's name for a local file that cannot be mistaken for another protocol. */
export function fileUrlForFfmpeg(absolutePath: string): string {
  return `file:${absolutePath}`;
}

/** The first name of a demuxer list ('mov,mp4,m4a' → 'mov') if it is allowed, else null. */
export function allowedDemuxer(formatName: string): string | null {
  const names = formatName.split(',').map((n) => n.trim());
  return names.some((n) => ALLOWED_DEMUXERS.includes(n)) ? names[0] : null;
}

/** Last line(s) of a tool's stderr, trimmed for an error message. */
export function stderrReason(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((line) =>
      line
        .replace(/^\[[\w-]+ @ 0x[0-9a-f]+\]\s*/i, '')
        // Client-facing messages must not reveal server paths.
        .replace(/(?:file:)?\/[^\s:']+:?\s*/g, '')
        .replace(/^Format not on whitelist.*$/, 'container format not accepted (playlists, concat and other indirections are refused)')
        .trim(),
    )
    .filter(Boolean);
  const text = lines.slice(-2).join('; ');
  return text.length > MAX_REASON_CHARS ? `${text.slice(0, MAX_REASON_CHARS)}…` : text || 'no details';
}

interface FfprobeJson {
  streams?: { codec_type?: string; codec_name?: string; sample_rate?: string; channels?: number; duration?: string }[];
  format?: { format_name?: string; duration?: string; size?: string };
}

function runFfprobe(binary: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      binary,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: MAX_STDOUT_BYTES, windowsHide: true },
      (err, stdout, stderr) => {
        if (!err) return resolvePromise(stdout);
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'EACCES') {
          return reject(new Error(`cannot run ffprobe at ${binary}: ${code}`, { cause: err }));
        }
        const killed = (err as { killed?: boolean }).killed;
        if (killed) return reject(new BadAudioError(`probing the audio timed out after ${timeoutMs} ms`, { cause: err }));
        reject(new BadAudioError(`not decodable audio: ${stderrReason(String(stderr))}`, { cause: err }));
      },
    );
  });
}

/**
 * Reads the container's facts with ffprobe, restricted to local files and the
 * {@link ALLOWED_DEMUXERS}. Throws BadAudioError when the input is missing,
 * empty, not audio, has no audio stream, or is a WAV file whose data was cut
 * off (see {@link checkWavComplete}).
 */
export async function probe(path: string, options: ProbeOptions = {}): Promise<AudioProbe> {
  const file = await assertLocalFile(path);
  const ffprobePath = options.ffprobePath ?? bundledBinaryPaths().ffprobePath;
  const stdout = await runFfprobe(
    ffprobePath,
    [
      '-v', 'error',
      '-protocol_whitelist', 'file',
      '-format_whitelist', ALLOWED_DEMUXERS.join(','),
      '-show_entries', 'format=format_name,duration,size:stream=codec_type,codec_name,sample_rate,channels,duration',
      '-of', 'json',
      fileUrlForFfmpeg(file.path),
    ],
    options.timeoutMs ?? 30_000,
  );
  let parsed: FfprobeJson;
  try {
    parsed = JSON.parse(stdout) as FfprobeJson;
  } catch (err) {
    throw new BadAudioError('ffprobe returned unreadable output for this input', { cause: err });
  }
  const formatName = parsed.format?.format_name ?? '';
  if (!allowedDemuxer(formatName)) throw new BadAudioError(`container format not accepted: ${formatName || 'unknown'}`);
  const streams = parsed.streams ?? [];
  const audio = streams.find((s) => s.codec_type === 'audio');
  if (!audio) {
    const kinds = streams.map((s) => s.codec_type ?? 'unknown').join(', ') || 'none';
    throw new BadAudioError(`no audio stream in the input (streams: ${kinds})`);
  }
  const duration = Number(audio.duration ?? parsed.format?.duration);
  const result: AudioProbe = {
    durationSec: Number.isFinite(duration) && duration > 0 ? duration : 0,
    codec: audio.codec_name ?? 'unknown',
    formatName,
    sampleRate: Number(audio.sample_rate ?? 0),
    channels: audio.channels ?? 0,
    sizeBytes: file.sizeBytes,
  };
  if (formatName.split(',').includes('wav')) await checkWavComplete(file.path, file.sizeBytes);
  return result;
}

/**
 * Refuses a RIFF/WAVE file whose header declares more sample data than the
 * file holds. Such a file was cut off in transfer: decoders differ (some fail,
 * some return the first part), and a transcript of the first part presented
 * as the whole would be wrong, so it is rejected as BadAudioError. Streaming
 * writers leave the size at 0 or 0xFFFFFFFF; those files are accepted.
 */
export async function checkWavComplete(path: string, sizeBytes: number): Promise<void> {
  const handle = await open(path, 'r');
  try {
    const header = Buffer.alloc(Math.min(sizeBytes, 1 << 16));
    await handle.read(header, 0, header.length, 0);
    if (header.toString('latin1', 0, 4) !== 'RIFF' || header.toString('latin1', 8, 12) !== 'WAVE') return;
    let offset = 12;
    let byteRate = 0;
    while (offset + 8 <= header.length) {
      const id = header.toString('latin1', offset, offset + 4);
      const size = header.readUInt32LE(offset + 4);
      if (id === 'fmt ' && offset + 16 <= header.length) byteRate = header.readUInt32LE(offset + 16);
      if (id === 'data') {
        if (size === 0 || size === 0xffffffff) return;
        const available = sizeBytes - (offset + 8);
        // One block of slack: some writers round the last block.
        if (available + 8 < size) {
          const seconds = (n: number) => (byteRate > 0 ? `${(n / byteRate).toFixed(2)} s` : `${n} bytes`);
          throw new BadAudioError(
            `truncated WAV file: the header declares ${seconds(size)} of samples but the file holds ${seconds(Math.max(available, 0))}`,
          );
        }
        return;
      }
      offset += 8 + size + (size % 2);
    }
  } finally {
    await handle.close();
  }
}
