/**
 * Transcript output formats shared by the CLI and the API: plain text, SRT,
 * WebVTT and JSON. Pure functions over segments with absolute times in seconds.
 */

/** The part of a segment the formats need. */
export interface TimedText {
  /** Seconds from the start of the audio. */
  start: number;
  /** Seconds from the start of the audio. */
  end: number;
  text: string;
  /** Who speaks ("Speaker 1"), when the transcript was diarized. */
  speaker?: string;
  /** The segment's words, when word timestamps were asked for. */
  words?: readonly TimedWord[];
}

/** A word of a segment (times in seconds from the start of the audio). */
export interface TimedWord {
  word: string;
  start: number;
  end: number;
  probability?: number;
}

/** Cues of SRT and WebVTT: one per segment, or one per word. */
export type CueGranularity = 'segment' | 'word';

export const CUE_GRANULARITIES: readonly CueGranularity[] = ['segment', 'word'];

/** One cue per word (a segment without words stays one cue). */
export function wordCues(segments: readonly TimedText[]): TimedText[] {
  return segments.flatMap((s) => (s.words ? s.words.map((w) => ({ start: w.start, end: w.end, text: w.word })) : [s]));
}

export type TranscriptFormat = 'text' | 'json' | 'srt' | 'vtt';

export const TRANSCRIPT_FORMATS: readonly TranscriptFormat[] = ['text', 'json', 'srt', 'vtt'];

/** MIME type to serve each format with. */
export const TRANSCRIPT_CONTENT_TYPES: Record<TranscriptFormat, string> = {
  text: 'text/plain; charset=utf-8',
  json: 'application/json; charset=utf-8',
  srt: 'application/x-subrip; charset=utf-8',
  vtt: 'text/vtt; charset=utf-8',
};

/**
 * `HH:MM:SS,mmm` (SRT, separator ',') or `HH:MM:SS.mmm` (WebVTT, '.'),
 * rounded to the millisecond. Hours grow past 99 rather than wrap.
 */
export function formatTimestamp(seconds: number, separator: ',' | '.'): string {
  const totalMs = Math.max(0, Math.round((Number.isFinite(seconds) ? seconds : 0) * 1000));
  const ms = totalMs % 1000;
  const totalSec = Math.floor(totalMs / 1000);
  const s = totalSec % 60;
  const m = Math.floor(totalSec / 60) % 60;
  const h = Math.floor(totalSec / 3600);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}${separator}${pad(ms, 3)}`;
}

/** Inverse of {@link formatTimestamp}: accepts `HH:MM:SS,mmm`, `HH:MM:SS.mmm` and WebVTT's `MM:SS.mmm`. */
export function parseTimestamp(text: string): number {
  const match = /^(?:(\d+):)?(\d{2}):(\d{2})[,.](\d{3})$/.exec(text.trim());
  if (!match) throw new Error(`not a timestamp: ${text}`);
  const [, h, m, s, ms] = match;
  return (Number(h ?? 0) * 3_600_000 + Number(m) * 60_000 + Number(s) * 1000 + Number(ms)) / 1000;
}

function cueText(text: string): string {
  // A blank line ends a cue in both SRT and WebVTT.
  return text.trim().replace(/\s*\n\s*/g, ' ');
}

function cueTimes(segment: TimedText, separator: ',' | '.'): string {
  const end = Math.max(segment.end, segment.start);
  return `${formatTimestamp(segment.start, separator)} --> ${formatTimestamp(end, separator)}`;
}

/** Text with its speaker in front, `[Speaker 1] text` (text and SRT). */
function labelled(segment: TimedText): string {
  const text = cueText(segment.text);
  return segment.speaker ? `[${segment.speaker}] ${text}` : text;
}

/** WebVTT voice span: `<v Speaker 1>text` (the name may not hold '>'). */
function voiced(segment: TimedText): string {
  const text = escapeVtt(cueText(segment.text));
  return segment.speaker ? `<v ${segment.speaker.replace(/[<>&\n]/g, ' ')}>${text}` : text;
}

const nonEmpty = (segments: readonly TimedText[]) => segments.filter((s) => s.text.trim().length > 0);

/** One line per segment, no times. */
export function toText(segments: readonly TimedText[]): string {
  const lines = nonEmpty(segments).map(labelled);
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** SubRip: numbered cues from 1, `HH:MM:SS,mmm --> HH:MM:SS,mmm`. */
export function toSrt(segments: readonly TimedText[]): string {
  return nonEmpty(segments)
    .map((s, i) => `${i + 1}\n${cueTimes(s, ',')}\n${labelled(s)}\n`)
    .join('\n');
}

function escapeVtt(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function unescapeVtt(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** WebVTT: `WEBVTT` header, then cues `HH:MM:SS.mmm --> HH:MM:SS.mmm`, text escaped. */
export function toWebVtt(segments: readonly TimedText[]): string {
  const cues = nonEmpty(segments).map((s) => `${cueTimes(s, '.')}\n${voiced(s)}\n`);
  return ['WEBVTT\n', ...cues].join('\n');
}

/** Pretty JSON of the transcript: whatever metadata the caller passes, plus `text` and `segments`. */
export function toJson<T extends TimedText>(
  segments: readonly T[],
  metadata: Record<string, unknown> = {},
): string {
  const text = nonEmpty(segments)
    .map((s) => cueText(s.text))
    .join(' ');
  return `${JSON.stringify({ ...metadata, text, segments }, null, 2)}\n`;
}

/**
 * Formats segments in any of the {@link TRANSCRIPT_FORMATS}; `granularity`
 * 'word' makes SRT and WebVTT cues of single words (JSON always carries the
 * words that the segments have).
 */
export function formatTranscript(
  format: TranscriptFormat,
  segments: readonly TimedText[],
  metadata: Record<string, unknown> = {},
  granularity: CueGranularity = 'segment',
): string {
  const cues = granularity === 'word' ? wordCues(segments) : segments;
  switch (format) {
    case 'text':
      return toText(segments);
    case 'srt':
      return toSrt(cues);
    case 'vtt':
      return toWebVtt(cues);
    case 'json':
      return toJson(segments, metadata);
  }
}

function parseCues(body: string, separator: ',' | '.'): TimedText[] {
  const cues: TimedText[] = [];
  for (const block of body.replace(/\r\n/g, '\n').split(/\n{2,}/)) {
    const lines = block.split('\n').filter((l) => l.length > 0);
    const timeIndex = lines.findIndex((l) => l.includes('-->'));
    if (timeIndex < 0) continue;
    const [from, to] = lines[timeIndex].split('-->').map((t) => t.trim().split(/\s+/)[0]);
    if (!from.includes(separator) || !to.includes(separator)) throw new Error(`bad cue timing: ${lines[timeIndex]}`);
    const text = lines.slice(timeIndex + 1).join('\n');
    cues.push({ start: parseTimestamp(from), end: parseTimestamp(to), text: separator === '.' ? unescapeVtt(text) : text });
  }
  return cues;
}

/** Reads SubRip cues back (for tests and imports). */
export function parseSrt(body: string): TimedText[] {
  return parseCues(body, ',');
}

/** Reads WebVTT cues back (for tests and imports). Throws when the header is missing. */
export function parseWebVtt(body: string): TimedText[] {
  if (!body.startsWith('WEBVTT')) throw new Error('missing WEBVTT header');
  return parseCues(body.slice(body.indexOf('\n') + 1), '.');
}
