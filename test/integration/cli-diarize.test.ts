/** The transcribe CLI with --diarize (issue 15), run as `npm run transcribe --` runs it. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { longformClip } from '../helpers/fixtures.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = `${ROOT}node_modules/.bin/tsx`;

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { LOG_LEVEL: _unset, ...env } = process.env;
  return new Promise((resolve) => {
    execFile(TSX, ['src/inference/cli.ts', ...args], { cwd: ROOT, env, timeout: 170_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

const RUN = ['--device', 'cpu', '--threads', '2', '--language', 'en'];

describe('transcribe CLI --diarize', () => {
  // The first 20 s of the long-form file: espeak, then LibriSpeech readers 2033 and 3331.
  const clip = longformClip(20);

  it('prefixes text lines with their speaker', async () => {
    const { code, stdout, stderr } = await cli(clip, ...RUN, '--diarize');
    expect(code, stderr).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines.every((l) => /^\[Speaker \d+\] \S/.test(l))).toBe(true);
    expect(new Set(lines.map((l) => l.slice(0, l.indexOf(']')))).size).toBeGreaterThanOrEqual(2);
  }, 180_000);

  it('prints RTTM turns with the count given, and refuses a bad count', async () => {
    const { code, stdout, stderr } = await cli(clip, ...RUN, '--format', 'rttm', '--num-speakers', '3');
    expect(code, stderr).toBe(0);
    const lines = stdout.trim().split('\n');
    for (const line of lines) expect(line).toMatch(/^SPEAKER longform-20s\.flac 1 \d+\.\d{3} \d+\.\d{3} <NA> <NA> Speaker_[1-3] <NA> <NA>$/);
    expect(new Set(lines.map((l) => l.split(' ')[7])).size).toBe(3);
    const bad = await cli(clip, ...RUN, '--num-speakers', '0');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--num-speakers must be a positive integer');
  }, 180_000);
});
