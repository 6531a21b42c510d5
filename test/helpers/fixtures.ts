/** Audio fixtures cut from ../shared/audio with the bundled ffmpeg, cached in the temp dir. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ffmpegInstaller from '@ffmpeg-installer/ffmpeg';

/** ../shared/audio beside the repository (as CI lays it out). */
export const AUDIO_DIR = fileURLToPath(new URL('../../../shared/audio', import.meta.url));
export const JFK = join(AUDIO_DIR, 'whisper_cpp/jfk.wav');
export const LONGFORM = join(AUDIO_DIR, 'longform/dev_longform.flac');
export const LIBRI_CLIP = join(AUDIO_DIR, 'librispeech/test-clean/1089-134686-0000.flac');
export const BAD_INPUTS = join(AUDIO_DIR, 'bad_inputs');

/** The first `seconds` of the long-form file as FLAC (speech with pauses: several chunks). */
export function longformClip(seconds: number): string {
  const dir = join(tmpdir(), 'meno-fixtures');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `longform-${seconds}s.flac`);
  if (!existsSync(out)) {
    const tmp = `${out}.${process.pid}.tmp.flac`;
    const res = spawnSync(ffmpegInstaller.path, ['-nostdin', '-y', '-v', 'error', '-i', LONGFORM, '-t', String(seconds), '-ac', '1', '-ar', '16000', tmp]);
    if (res.status !== 0) throw new Error(`ffmpeg failed: ${res.stderr?.toString()}`);
    spawnSync('mv', [tmp, out]);
  }
  return out;
}

/** Runs the bundled ffmpeg once per output file (cached in the temp dir); `make` gets a temp path to write. */
function cachedFixture(name: string, make: (out: string) => string[][]): string {
  const dir = join(tmpdir(), 'meno-fixtures');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, name);
  if (!existsSync(out)) {
    const tmp = `${out}.${process.pid}.tmp`;
    for (const args of make(tmp)) {
      const res = spawnSync(ffmpegInstaller.path, ['-nostdin', '-y', '-v', 'error', ...args]);
      if (res.status !== 0) throw new Error(`ffmpeg failed: ${res.stderr?.toString()}`);
    }
    spawnSync('mv', [tmp, out]);
  }
  return out;
}

/** `seconds` of digital silence as FLAC: a few MB that decode to hours (a "duration bomb"). */
export function silenceFlac(seconds: number): string {
  return cachedFixture(`silence-${seconds}s.flac`, (out) => [['-f', 'lavfi', '-i', 'anullsrc=r=16000:cl=mono', '-t', String(seconds), '-c:a', 'flac', '-f', 'flac', out]]);
}

/**
 * An MP3 whose container understates its duration: 1 s of silence at a high
 * bitrate, then 90 s of the long-form speech at 32 kbit/s, with no Xing
 * header, so ffprobe estimates about 28 s from the first frames' bitrate.
 */
export function understatedMp3(): string {
  return cachedFixture('understated-91s.mp3', (out) => {
    const lame = ['-c:a', 'libmp3lame', '-write_xing', '0', '-id3v2_version', '0', '-f', 'mp3'];
    return [
      ['-f', 'lavfi', '-i', 'anullsrc=r=16000:cl=mono', '-t', '1', ...lame, '-b:a', '160k', `${out}.a`],
      ['-i', LONGFORM, '-t', '90', '-ac', '1', '-ar', '16000', ...lame, '-b:a', '32k', `${out}.b`],
      // Byte concatenation through ffmpeg's concat protocol keeps both streams' frames as they are.
      ['-i', `concat:${out}.a|${out}.b`, '-c', 'copy', '-write_xing', '0', '-id3v2_version', '0', '-f', 'mp3', out],
    ];
  });
}

/** The long-form file's stretches of digital silence and of -50 dBFS noise (audio/README.md), seconds. */
export const LONGFORM_SILENCE = { start: 236.9, end: 256.9 };
export const LONGFORM_NOISE = { start: 462.182, end: 482.182 };

export interface LongformSegment {
  kind: string;
  start_s: number;
  end_s: number;
  start_sample: number;
  end_sample: number;
}

/** The speech clips of the long-form file, with their exact boundaries. */
export function longformSpeech(): LongformSegment[] {
  const meta = JSON.parse(readFileSync(LONGFORM.replace(/\.flac$/, '.segments.json'), 'utf8')) as { segments: LongformSegment[] };
  return meta.segments.filter((s) => s.kind === 'speech');
}
