/**
 * Checks an audio file before a meeting is created from it: where it is
 * (server-side URIs must stay under AUDIO_ROOT), what it is (magic number,
 * then ffprobe) and its SHA-256.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { realpath, stat, statfs } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import {
  BadAudioError,
  InsufficientStorageError,
  PayloadTooLargeError,
  UnavailableError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../core/errors.js';
import type { AudioProbe, ProbeOptions } from '../inference/audio/probe.js';
import { probe } from '../inference/audio/probe.js';
import { type ContainerFamily, sniffFile } from '../inference/audio/sniff.js';

/** The two checks the API runs on a file, injectable so the composition root picks the ffprobe binary. */
export interface AudioInspector {
  /** Container family from the magic number, null when unrecognised. */
  sniff(path: string): Promise<ContainerFamily | null>;
  /** ffprobe facts; throws BadAudioError for corrupt or non-audio input. */
  probe(path: string): Promise<AudioProbe>;
}

export function createAudioInspector(options: ProbeOptions = {}): AudioInspector {
  return { sniff: sniffFile, probe: (path) => probe(path, options) };
}

export interface InspectedAudio {
  container: ContainerFamily;
  durationSec: number;
  codec: string;
  formatName: string;
  sizeBytes: number;
}

/**
 * Magic-number sniff first, so ffprobe never parses bytes that are not a
 * known audio/video container (text, playlists, ffconcat scripts, images):
 * those are 415 UNSUPPORTED_MEDIA_TYPE. A known container that ffprobe
 * cannot read (truncated, corrupt, no audio stream) is 400 BAD_AUDIO, and so
 * is an empty file.
 */
export async function inspectAudio(path: string, sizeBytes: number, inspector: AudioInspector): Promise<InspectedAudio> {
  if (sizeBytes === 0) throw new BadAudioError('the audio file is empty');
  const container = await inspector.sniff(path);
  if (!container) {
    throw new UnsupportedMediaTypeError('not a recognised audio or video container (checked by its first bytes); send WAV, FLAC, MP3, Ogg, MP4/M4A, WebM or a similar format');
  }
  const probed = await inspector.probe(path);
  return { container, durationSec: probed.durationSec, codec: probed.codec, formatName: probed.formatName, sizeBytes: probed.sizeBytes };
}

/**
 * 413 when the container declares more audio than MAX_AUDIO_DURATION_SEC
 * (a few MB of FLAC can hold hours of silence); the worker checks the real
 * duration again while decoding.
 */
export function assertDurationAllowed(durationSec: number, maxDurationSec: number): void {
  if (durationSec <= maxDurationSec) return;
  throw new PayloadTooLargeError(`the audio lasts ${Math.round(durationSec)} s; this server accepts at most ${maxDurationSec} s (MAX_AUDIO_DURATION_SEC)`, {
    details: { durationSec: Math.round(durationSec), maxDurationSec },
  });
}

/** 507 when `dir` cannot take `bytes` more and keep `reserveBytes` free; checked before an upload is read. */
export async function assertFreeSpace(dir: string, bytes: number, reserveBytes: number): Promise<void> {
  const fs = await statfs(dir);
  const free = fs.bavail * fs.bsize;
  if (free >= bytes + reserveBytes) return;
  throw new InsufficientStorageError('the server has no room for this upload right now; try again later', {
    details: { neededBytes: bytes + reserveBytes, freeBytes: free },
  });
}

/** An upload that hit a full disk mid-stream becomes the same 507 (the partial file is already removed). */
export function noSpaceAsInsufficientStorage(err: unknown): never {
  if ((err as NodeJS.ErrnoException).code === 'ENOSPC') {
    throw new InsufficientStorageError('the server ran out of room while receiving this upload; try again later', { cause: err });
  }
  throw err;
}

/** Hex SHA-256 of a file, read as a stream. */
export async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

const SCHEME = /^([a-z][a-z0-9+.-]*):/i;

/**
 * Resolves a client's `audioUri` (a path, absolute or relative to
 * AUDIO_ROOT, or a `file://` URI) to the real path of a regular file inside
 * AUDIO_ROOT. Refused with ValidationError: other schemes (http:, data:,
 * concat:, …), `..` segments, anything whose real path (symlinks followed)
 * leaves AUDIO_ROOT, missing files and non-regular files. Messages never show
 * server paths beyond what the client sent.
 */
export async function resolveAudioUri(uri: string, audioRoot: string | undefined): Promise<{ path: string; sizeBytes: number }> {
  if (!audioRoot) throw new ValidationError('audioUri is not accepted by this server (AUDIO_ROOT is not set); upload the file instead');
  if (uri.includes('\0')) throw new ValidationError('audioUri contains a NUL byte');
  let candidate: string;
  const scheme = SCHEME.exec(uri)?.[1].toLowerCase();
  if (scheme === 'file') {
    if (hasDotDot(safeDecode(uri.slice('file:'.length)))) throw new ValidationError('audioUri must not contain ".." segments');
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      throw new ValidationError('audioUri is not a valid file:// URI');
    }
    if (url.host !== '' && url.host !== 'localhost') throw new ValidationError('file:// URIs must name a local file (no host)');
    candidate = fileURLToPath(url);
  } else if (scheme) {
    throw new ValidationError(`audioUri must be a local path or a file:// URI, not "${scheme}:"`);
  } else {
    if (hasDotDot(uri)) throw new ValidationError('audioUri must not contain ".." segments');
    candidate = isAbsolute(uri) ? uri : resolve(audioRoot, uri);
  }

  let root: string;
  try {
    root = await realpath(audioRoot);
  } catch (err) {
    throw new UnavailableError('the server cannot read its AUDIO_ROOT', { cause: err });
  }
  let real: string;
  try {
    real = await realpath(candidate);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new ValidationError(`audioUri names no file under AUDIO_ROOT: ${uri}`, { cause: err });
    throw new ValidationError(`audioUri cannot be read: ${code ?? 'error'}`, { cause: err });
  }
  const rel = relative(root, real);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) throw new ValidationError('audioUri resolves outside AUDIO_ROOT');
  const info = await stat(real);
  if (!info.isFile()) throw new ValidationError('audioUri is not a regular file');
  return { path: real, sizeBytes: info.size };
}

function hasDotDot(path: string): boolean {
  return path.split(/[/\\]/).includes('..');
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
