/**
 * Words from aligned tokens, as OpenAI whisper's `add_word_timestamps` makes
 * them: tokens grouped into words (at spaces and punctuation, or per
 * character for languages written without spaces), timed by the alignment's
 * token jump times, over-long words at pauses and sentence ends trimmed,
 * punctuation merged into its neighbour, and the words dealt out to the
 * window's segments by their token counts. Pure; times are window seconds.
 */
import type { Word } from '../types.js';

/** Languages written without spaces between words: one word per character (per whole UTF-8 token run). */
const UNSEGMENTED_LANGUAGES = new Set(['zh', 'ja', 'th', 'lo', 'my', 'yue']);
/** Python's string.punctuation: a token whose stripped text is a substring of it starts its own word. */
const PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
/** openai-whisper's defaults: these join the word after them… */
export const PREPEND_PUNCTUATIONS = '"\'“¿([{-';
/** …and these the word before them. */
export const APPEND_PUNCTUATIONS = '"\'.。,，!！?？:：”)]}、';
const SENTENCE_END_MARKS = '.。!！?？';
const REPLACEMENT = '\ufffd';

/** A word and the text tokens it is made of. */
export interface WordTokens {
  word: string;
  tokens: number[];
}

/**
 * Splits tokens into pieces that decode to whole characters: a token that
 * ends inside a multi-byte UTF-8 character joins the tokens after it.
 */
export function splitTokensOnUnicode(tokens: readonly number[], decode: (ids: number[]) => string): WordTokens[] {
  const full = decode([...tokens]);
  const pieces: WordTokens[] = [];
  let current: number[] = [];
  let offset = 0;
  for (const token of tokens) {
    current.push(token);
    const text = decode(current);
    const bad = text.indexOf(REPLACEMENT);
    if (bad < 0 || full[offset + bad] === REPLACEMENT) {
      pieces.push({ word: text, tokens: current });
      current = [];
      offset += text.length;
    }
  }
  if (current.length > 0) pieces.push({ word: decode(current), tokens: current });
  return pieces;
}

/** Words of text tokens: a new word at a leading space or a punctuation token; per character for unsegmented languages. */
export function splitToWordTokens(tokens: readonly number[], decode: (ids: number[]) => string, language: string): WordTokens[] {
  const pieces = splitTokensOnUnicode(tokens, decode);
  if (UNSEGMENTED_LANGUAGES.has(language)) return pieces;
  const words: WordTokens[] = [];
  for (const piece of pieces) {
    const last = words.at(-1);
    if (!last || piece.word.startsWith(' ') || PUNCTUATION.includes(piece.word.trim())) words.push({ word: piece.word, tokens: [...piece.tokens] });
    else {
      last.word += piece.word;
      last.tokens.push(...piece.tokens);
    }
  }
  return words;
}

/** A timed word with its tokens, before it is dealt to a segment. */
export interface WordTiming extends Word {
  tokens: number[];
}

/**
 * Moves opening punctuation onto the word after it and closing punctuation
 * onto the word before it (the punctuation's own times are dropped); the
 * emptied entries stay, with no text and no tokens, so token counts still add up.
 */
export function mergePunctuations(alignment: WordTiming[], prepended = PREPEND_PUNCTUATIONS, appended = APPEND_PUNCTUATIONS): void {
  let i = alignment.length - 2;
  let j = alignment.length - 1;
  while (i >= 0) {
    const previous = alignment[i];
    const following = alignment[j];
    if (previous.word.startsWith(' ') && prepended.includes(previous.word.trim())) {
      following.word = previous.word + following.word;
      following.tokens = [...previous.tokens, ...following.tokens];
      previous.word = '';
      previous.tokens = [];
    } else {
      j = i;
    }
    i--;
  }
  i = 0;
  j = 1;
  while (j < alignment.length) {
    const previous = alignment[i];
    const following = alignment[j];
    if (!previous.word.endsWith(' ') && following.word !== '' && appended.includes(following.word)) {
      previous.word += following.word;
      previous.tokens = [...previous.tokens, ...following.tokens];
      following.word = '';
      following.tokens = [];
    } else {
      i = j;
    }
    j++;
  }
}

const median = (values: number[]): number => {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const round2 = (t: number): number => Math.round(t * 100) / 100;

/** A segment's window times and text tokens, in window order. */
export interface SegmentTokens {
  start: number;
  end: number;
  textTokens: readonly number[];
}

export interface WordAlignmentInput {
  segments: readonly SegmentTokens[];
  /** {@link tokenJumpTimes} over [<|notimestamps|>, all segments' text tokens…]: one more entry than there are text tokens. */
  jumpTimes: readonly number[];
  /** Probability of each text token under the teacher-forced pass, in the same order. */
  tokenProbs: readonly number[];
  decode: (ids: number[]) => string;
  language: string;
}

/**
 * Each segment's words, by openai-whisper's rules: a first word after a
 * pause, or a first or last word that runs far past the segment's own
 * timestamp, is cut back. Word probability is the mean of its tokens'
 * probabilities. Segment bounds are not moved (openai-whisper moves them to
 * the words; here segments stay as the decode timed them, whether or not
 * words are asked for, and {@link clampWords} fits the words inside).
 * Returns one list per segment, in order.
 */
export function alignWords(input: WordAlignmentInput): Word[][] {
  const { segments, jumpTimes, tokenProbs } = input;
  const textTokens = segments.flatMap((s) => [...s.textTokens]);
  const split = splitToWordTokens(textTokens, input.decode, input.language);
  const alignment: WordTiming[] = [];
  let boundary = 0;
  for (const { word, tokens } of split) {
    const next = boundary + tokens.length;
    const probs = tokenProbs.slice(boundary, next);
    alignment.push({
      word,
      tokens,
      start: jumpTimes[boundary] ?? 0,
      end: jumpTimes[next] ?? jumpTimes.at(-1) ?? 0,
      probability: probs.length > 0 ? probs.reduce((a, b) => a + b, 0) / probs.length : 0,
    });
    boundary = next;
  }

  const durations = alignment.map((w) => w.end - w.start).filter((d) => d !== 0);
  const medianDuration = Math.min(0.7, median(durations));
  const maxDuration = medianDuration * 2;
  if (durations.length > 0) {
    // Words at sentence boundaries are no longer than twice the median word.
    for (let i = 1; i < alignment.length; i++) {
      if (alignment[i].end - alignment[i].start > maxDuration) {
        if (SENTENCE_END_MARKS.includes(alignment[i].word)) alignment[i].end = alignment[i].start + maxDuration;
        else if (SENTENCE_END_MARKS.includes(alignment[i - 1].word)) alignment[i].start = alignment[i].end - maxDuration;
      }
    }
  }
  mergePunctuations(alignment);

  let index = 0;
  let lastSpeech = 0;
  return segments.map((segment) => {
    const words: Word[] = [];
    let saved = 0;
    while (index < alignment.length && saved < segment.textTokens.length) {
      const timing = alignment[index];
      if (timing.word) words.push({ word: timing.word, start: round2(timing.start), end: round2(timing.end), probability: timing.probability });
      saved += timing.tokens.length;
      index++;
    }
    let { start, end } = segment;
    if (words.length > 0) {
      const [first, second] = words;
      // The first and second word after a pause are no longer than twice the median word.
      if (
        first.end - lastSpeech > medianDuration * 4 &&
        (first.end - first.start > maxDuration || (second !== undefined && second.end - first.start > maxDuration * 2))
      ) {
        if (second !== undefined && second.end - second.start > maxDuration) {
          const cut = Math.max(second.end / 2, second.end - maxDuration);
          first.end = second.start = cut;
        }
        first.start = Math.max(0, first.end - maxDuration);
      }
      // The segment's own start wins over a first word that starts far earlier.
      if (start < first.end && start - 0.5 > first.start) first.start = Math.max(0, Math.min(first.end - medianDuration, start));
      else start = first.start;
      const last = words.at(-1)!;
      if (end > last.start && end + 0.5 < last.end) last.end = Math.max(last.start + medianDuration, end);
      else end = last.end;
      lastSpeech = end;
    }
    return words;
  });
}

/**
 * Makes word times safe to show: each word starts no earlier than the one
 * before it ends, ends no earlier than it starts, and lies within
 * [start, end]. Returns new words.
 */
export function clampWords(words: readonly Word[], start: number, end: number): Word[] {
  let floor = start;
  return words.map((w) => {
    const wordStart = Math.min(Math.max(w.start, floor), end);
    const wordEnd = Math.min(Math.max(w.end, wordStart), end);
    floor = wordEnd;
    return { ...w, start: wordStart, end: wordEnd };
  });
}
