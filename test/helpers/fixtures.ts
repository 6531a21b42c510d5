/** Audio fixtures cut from ../shared/audio with the bundled ffmpeg, cached in the temp dir. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ffmpegInstaller from '@ffmpeg-installer/ffmpeg';

export const AUDIO_DIR = fileURLToPath(new URL('../../../shared/audio/', import.meta.url));
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
