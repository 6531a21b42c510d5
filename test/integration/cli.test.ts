import { describe, expect, it } from 'vitest';
import { CLI_RUN as RUN, runCli as cli } from '../helpers/cli.js';
import { parseSrt, parseWebVtt } from '../../src/core/transcript-format.js';
import { BAD_INPUTS, JFK } from '../helpers/fixtures.js';

const expectJfkWords = (text: string) => {
  const lower = text.toLowerCase();
  for (const word of ['americans', 'country', 'ask']) expect(lower).toContain(word);
};

describe('transcribe CLI', () => {
  it('prints plain text, and by default only one plain progress line per chunk on a non-TTY stderr (no JSON logs)', async () => {
    const { code, stdout, stderr } = await cli(JFK, ...RUN);
    expect(code).toBe(0);
    expectJfkWords(stdout);
    expect(stdout.trim().split('\n').length).toBeGreaterThanOrEqual(1);
    expect(stderr.trim().split('\n')).toEqual([expect.stringMatching(/^1\/1 chunks {2}\d+\.\dx real time {2}ETA \d+:\d\d$/)]);
  }, 180_000);

  it('logs JSON, progress included, with --verbose', async () => {
    const { code, stdout, stderr } = await cli(JFK, ...RUN, '--verbose');
    expect(code).toBe(0);
    expectJfkWords(stdout);
    const progress = stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'chunk done');
    expect(progress).toHaveLength(1);
    expect(progress[0]).toMatchObject({ chunk: 0, done: 1, total: 1 });
    expect(progress[0].speed).toBeGreaterThan(0);
  }, 180_000);

  it('prints SRT that parses back', async () => {
    const { code, stdout } = await cli(JFK, '--format', 'srt', ...RUN);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^1\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n/);
    const cues = parseSrt(stdout);
    expect(cues.length).toBeGreaterThanOrEqual(1);
    expectJfkWords(cues.map((c) => c.text).join(' '));
    expect(cues[0].start).toBeLessThan(1.5);
    expect(cues.at(-1)!.end).toBeLessThanOrEqual(11);
  }, 180_000);

  it('prints WebVTT that parses back', async () => {
    const { code, stdout } = await cli(JFK, '--format', 'vtt', ...RUN);
    expect(code).toBe(0);
    expect(stdout.startsWith('WEBVTT\n\n')).toBe(true);
    const cues = parseWebVtt(stdout);
    expectJfkWords(cues.map((c) => c.text).join(' '));
    for (const cue of cues) expect(cue.end).toBeGreaterThanOrEqual(cue.start);
  }, 180_000);

  it('prints one SRT cue per word with --word-timestamps, and the words in JSON', async () => {
    const srt = await cli(JFK, '--format', 'srt', '--word-timestamps', ...RUN);
    expect(srt.code).toBe(0);
    const cues = parseSrt(srt.stdout);
    expect(cues.map((c) => c.text.toLowerCase()).slice(0, 5)).toEqual(['and', 'so', 'my', 'fellow', 'americans']);
    cues.forEach((cue, k) => {
      expect(cue.end).toBeGreaterThanOrEqual(cue.start);
      if (k > 0) expect(cue.start).toBeGreaterThanOrEqual(cues[k - 1].end);
    });
    const json = await cli(JFK, '--format', 'json', '--word-timestamps', ...RUN);
    const body = JSON.parse(json.stdout) as { segments: { text: string; words: { word: string; start: number; end: number; probability: number }[] }[] };
    for (const segment of body.segments) expect(segment.words.map((w) => w.word).join('').trim()).toBe(segment.text);
    expect(body.segments.flatMap((s) => s.words)).toHaveLength(cues.length);
  }, 180_000);

  it('prints JSON with metadata and segments, using the fixed planner on request', async () => {
    const { code, stdout } = await cli(JFK, '--format', 'json', '--planner', 'fixed', '--batch-size', '2', ...RUN);
    expect(code).toBe(0);
    const body = JSON.parse(stdout) as { model: string; language: string; planner: string; chunks: number; durationSec: number; text: string; segments: { start: number; end: number; text: string }[] };
    expect(body).toMatchObject({ model: 'whisper-tiny', language: 'en', planner: 'fixed', chunks: 1 });
    expect(body.durationSec).toBeCloseTo(11, 1);
    expectJfkWords(body.text);
    expect(body.segments[0]).toHaveProperty('avgLogprob');
  }, 180_000);

  it('prints help', async () => {
    const { code, stdout } = await cli('--help');
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: npm run transcribe -- <file>');
    expect(stdout).toContain('--planner');
  }, 60_000);

  it('exits 1 with a one-line error for bad audio, a missing file, an unknown model and bad options', async () => {
    const cases: [string[], RegExp][] = [
      [[`${BAD_INPUTS}/not_audio.wav`], /^error: not decodable audio/],
      [[`${BAD_INPUTS}/truncated_data.wav`], /^error: truncated WAV file/],
      [['/no/such/file.wav'], /^error: file not found: \/no\/such\/file.wav/],
      [[JFK, '--model', 'gigantic'], /^error: model "gigantic" not found/],
      [[JFK, '--format', 'docx'], /^error: --format must be one of text, json, srt, vtt/],
      [[JFK, '--batch-size', '0'], /^error: --batch-size must be a positive integer/],
      [[], /^error: expected exactly one input file/],
    ];
    for (const [args, pattern] of cases) {
      const { code, stdout, stderr } = await cli(...args);
      expect(code, args.join(' ')).toBe(1);
      expect(stdout, args.join(' ')).toBe('');
      const errors = stderr.split('\n').filter((l) => l.startsWith('error: '));
      expect(errors, args.join(' ')).toHaveLength(1);
      expect(errors[0], args.join(' ')).toMatch(pattern);
    }
  }, 120_000);
});
