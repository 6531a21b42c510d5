/** The transcribe CLI with --diarize (issue 15), run as `npm run transcribe --` runs it. */
import { describe, expect, it } from 'vitest';
import { CLI_RUN as RUN, runCli as cli } from '../helpers/cli.js';
import { longformClip } from '../helpers/fixtures.js';

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
