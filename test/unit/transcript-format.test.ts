import { describe, expect, it } from 'vitest';
import {
  formatTimestamp,
  formatTranscript,
  parseSrt,
  parseTimestamp,
  parseWebVtt,
  toJson,
  toSrt,
  toText,
  toWebVtt,
} from '../../src/core/transcript-format.js';

const segments = [
  { start: 0, end: 2.5, text: ' And so my fellow Americans,' },
  { start: 2.5, end: 7.0004, text: ' ask not what your country can do for you <or> me & them' },
  { start: 3599.9996, end: 3725.25, text: ' an hour\nlater' },
  { start: 4000, end: 4001, text: '   ' },
];

describe('timestamps', () => {
  it('formats HH:MM:SS,mmm and HH:MM:SS.mmm with millisecond rounding', () => {
    expect(formatTimestamp(0, ',')).toBe('00:00:00,000');
    expect(formatTimestamp(1.2345, ',')).toBe('00:00:01,235');
    expect(formatTimestamp(59.9996, '.')).toBe('00:01:00.000');
    expect(formatTimestamp(3661.5, '.')).toBe('01:01:01.500');
    expect(formatTimestamp(360_000, ',')).toBe('100:00:00,000');
    expect(formatTimestamp(-3, ',')).toBe('00:00:00,000');
  });

  it('parses back what it formats', () => {
    for (const t of [0, 0.001, 1.234, 59.999, 61.5, 3725.25, 86_399.999]) {
      expect(parseTimestamp(formatTimestamp(t, ','))).toBeCloseTo(t, 3);
      expect(parseTimestamp(formatTimestamp(t, '.'))).toBeCloseTo(t, 3);
    }
    expect(parseTimestamp('01:02.003')).toBeCloseTo(62.003, 3);
    expect(() => parseTimestamp('1:2:3')).toThrow(/not a timestamp/);
  });
});

describe('formats', () => {
  it('text: one line per non-empty segment, trimmed', () => {
    expect(toText(segments)).toBe(
      'And so my fellow Americans,\nask not what your country can do for you <or> me & them\nan hour later\n',
    );
    expect(toText([])).toBe('');
  });

  it('srt: numbered cues that parse back to the same times and text', () => {
    const srt = toSrt(segments);
    expect(srt.startsWith('1\n00:00:00,000 --> 00:00:02,500\nAnd so my fellow Americans,\n\n2\n')).toBe(true);
    const cues = parseSrt(srt);
    expect(cues).toHaveLength(3);
    cues.forEach((cue, i) => {
      expect(cue.start).toBeCloseTo(segments[i].start, 3);
      expect(cue.end).toBeCloseTo(segments[i].end, 3);
      expect(cue.text).toBe(segments[i].text.trim().replace(/\s*\n\s*/g, ' '));
    });
    expect(srt).toContain('3\n01:00:00,000 --> 01:02:05,250\n');
  });

  it('vtt: header, dotted timestamps, escaped text that parses back', () => {
    const vtt = toWebVtt(segments);
    expect(vtt.startsWith('WEBVTT\n\n00:00:00.000 --> 00:00:02.500\n')).toBe(true);
    expect(vtt).toContain('&lt;or&gt; me &amp; them');
    const cues = parseWebVtt(vtt);
    expect(cues.map((c) => c.text)).toEqual(['And so my fellow Americans,', 'ask not what your country can do for you <or> me & them', 'an hour later']);
    cues.forEach((cue, i) => {
      expect(cue.start).toBeCloseTo(segments[i].start, 3);
      expect(cue.end).toBeCloseTo(segments[i].end, 3);
    });
    expect(() => parseWebVtt('00:00.000 --> 00:01.000\nx')).toThrow(/WEBVTT/);
  });

  it('clamps an end before its start to the start', () => {
    expect(toSrt([{ start: 5, end: 4, text: 'x' }])).toContain('00:00:05,000 --> 00:00:05,000');
  });

  it('json: metadata, joined text and the segments as given', () => {
    const body = JSON.parse(toJson(segments, { language: 'en', model: 'whisper-tiny' }));
    expect(body.language).toBe('en');
    expect(body.model).toBe('whisper-tiny');
    expect(body.text).toBe('And so my fellow Americans, ask not what your country can do for you <or> me & them an hour later');
    expect(body.segments).toEqual(segments);
  });

  it('formatTranscript dispatches on the format name', () => {
    expect(formatTranscript('srt', segments)).toBe(toSrt(segments));
    expect(formatTranscript('vtt', segments)).toBe(toWebVtt(segments));
    expect(formatTranscript('text', segments)).toBe(toText(segments));
    expect(JSON.parse(formatTranscript('json', segments)).segments).toHaveLength(4);
  });
});
