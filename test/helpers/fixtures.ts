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
