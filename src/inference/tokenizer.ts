/**
 * Whisper's tokenizer for decoding: the byte-level BPE vocabulary of
 * tokenizer.json (GPT-2 style) turned back into text, plus lookups of the
 * special tokens by their string. Encoding is never needed: prompts are made
 * of special tokens only.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NotFoundError, ValidationError } from '../core/errors.js';

/** Ids of the control tokens the decoder needs. */
export interface WhisperSpecialTokens {
  /** <|startoftranscript|> */
  sot: number;
  /** <|endoftext|> */
  eot: number;
  /** <|transcribe|>, absent on English-only vocabularies. */
  transcribe?: number;
  /** <|translate|>, absent on English-only vocabularies. */
  translate?: number;
  /** <|notimestamps|> */
  noTimestamps: number;
  /** <|nospeech|> (newer vocabularies) or <|nocaptions|>. */
  noSpeech?: number;
  /** <|startofprev|> */
  sotPrev?: number;
  /** <|startoflm|> */
  sotLm?: number;
  /** <|0.00|>: every id from here up is a timestamp (0.02 s steps). */
  timestampBegin: number;
  /** Language code ('en', 'haw', ...) → token id of <|code|>, in id order. */
  languages: Map<string, number>;
}

export interface WhisperTokenizer {
  /** Number of ids the tokenizer knows (vocabulary plus added tokens). */
  readonly size: number;
  readonly special: WhisperSpecialTokens;
  /** Id of a token given as its string (`'<|en|>'`), or undefined. */
  idOf(token: string): number | undefined;
  /** The token string of an id, or undefined. */
  tokenOf(id: number): string | undefined;
  /** True for <|0.00|> … <|30.00|>. */
  isTimestamp(id: number): boolean;
  /**
   * Text of the ids. Special and timestamp tokens are left out; bytes that do
   * not form valid UTF-8 become U+FFFD (as Python's `errors='replace'`).
   */
  decode(ids: Iterable<number>): string;
}

interface TokenizerJson {
  model?: { type?: string; vocab?: Record<string, number> };
  added_tokens?: { id: number; content: string; special?: boolean }[];
}

/** GPT-2's reversible byte ↔ printable-character table, as the unicode char → byte map. */
function byteDecoder(): Map<string, number> {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const map = new Map<string, number>();
  const set = new Set(printable);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    if (set.has(b)) map.set(String.fromCharCode(b), b);
    else map.set(String.fromCharCode(256 + extra++), b);
  }
  return map;
}

/**
 * Builds a tokenizer from the parsed tokenizer.json.
 * @throws ValidationError when the file is not a byte-level BPE vocabulary with Whisper's control tokens.
 */
export function createTokenizer(json: TokenizerJson): WhisperTokenizer {
  const vocab = json.model?.vocab;
  if (!vocab || typeof vocab !== 'object') throw new ValidationError('tokenizer.json has no model.vocab');
  const byId: string[] = [];
  const byToken = new Map<string, number>();
  const specialIds = new Set<number>();
  for (const [token, id] of Object.entries(vocab)) {
    byId[id] = token;
    byToken.set(token, id);
  }
  for (const added of json.added_tokens ?? []) {
    byId[added.id] = added.content;
    byToken.set(added.content, added.id);
    if (added.special || /^<\|.*\|>$/.test(added.content)) specialIds.add(added.id);
  }

  const required = (token: string): number => {
    const id = byToken.get(token);
    if (id === undefined) throw new ValidationError(`tokenizer.json lacks the token ${token}`);
    return id;
  };
  const timestampBegin = required('<|0.00|>');
  const languages = new Map<string, number>();
  const sot = required('<|startoftranscript|>');
  const transcribe = byToken.get('<|transcribe|>');
  const translate = byToken.get('<|translate|>');
  // Language tokens sit between <|startoftranscript|> and <|translate|> (OpenAI's tokenizer layout).
  const languageEnd = translate ?? transcribe ?? sot;
  for (let id = sot + 1; id < languageEnd; id++) {
    const match = /^<\|([a-z]{2,3})\|>$/.exec(byId[id] ?? '');
    if (match) languages.set(match[1], id);
  }
  const special: WhisperSpecialTokens = {
    sot,
    eot: required('<|endoftext|>'),
    transcribe,
    translate,
    noTimestamps: required('<|notimestamps|>'),
    noSpeech: byToken.get('<|nospeech|>') ?? byToken.get('<|nocaptions|>'),
    sotPrev: byToken.get('<|startofprev|>'),
    sotLm: byToken.get('<|startoflm|>'),
    timestampBegin,
    languages,
  };

  const bytesOf = byteDecoder();
  const utf8 = new TextDecoder('utf-8', { fatal: false });
  const size = byId.length;

  return {
    size,
    special,
    idOf: (token) => byToken.get(token),
    tokenOf: (id) => byId[id],
    isTimestamp: (id) => id >= timestampBegin && id < size,
    decode(ids) {
      const bytes: number[] = [];
      for (const id of ids) {
        if (id >= timestampBegin || specialIds.has(id)) continue;
        const token = byId[id];
        if (token === undefined) continue;
        for (const char of token) {
          const byte = bytesOf.get(char);
          if (byte !== undefined) bytes.push(byte);
        }
      }
      return utf8.decode(Uint8Array.from(bytes));
    },
  };
}

/**
 * Loads `<modelDir>/tokenizer.json`.
 * @throws NotFoundError when the file is missing.
 */
export function loadTokenizer(modelDir: string): WhisperTokenizer {
  const path = join(modelDir, 'tokenizer.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new NotFoundError(`tokenizer not found: ${path}`, { cause: err });
  }
  return createTokenizer(JSON.parse(text) as TokenizerJson);
}
