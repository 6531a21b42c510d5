/**
 * Whisper's tokenizer: the byte-level BPE vocabulary of tokenizer.json
 * (GPT-2 style) turned back into text, text encoded into tokens (for
 * prompts: a client's vocabulary hint after <|startofprev|>), and lookups of
 * the special tokens by their string.
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
  /**
   * Token ids of plain text, as GPT-2's byte-level BPE splits it (special
   * token strings in the text are encoded as text, never as control tokens).
   */
  encode(text: string): number[];
}

interface TokenizerJson {
  model?: { type?: string; vocab?: Record<string, number>; merges?: (string | [string, string])[] };
  added_tokens?: { id: number; content: string; special?: boolean }[];
}

/** GPT-2's pre-tokenizer: contractions, letter runs, digit runs and other runs, each with one leading space. */
const PIECES = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Byte-pair merges by rank: applies the lowest-ranked adjacent pair until none is left. */
function bytePairEncode(symbols: string[], ranks: Map<string, number>): string[] {
  let parts = symbols;
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i < parts.length - 1; i++) {
      const rank = ranks.get(`${parts[i]} ${parts[i + 1]}`);
      if (rank !== undefined && rank < bestRank) {
        bestRank = rank;
        best = i;
      }
    }
    if (best < 0) return parts;
    const [a, b] = [parts[best], parts[best + 1]];
    const merged: string[] = [];
    for (let i = 0; i < parts.length; i++) {
      if (i < parts.length - 1 && parts[i] === a && parts[i + 1] === b) {
        merged.push(a + b);
        i++;
      } else merged.push(parts[i]);
    }
    parts = merged;
  }
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
  const charOf = [...bytesOf].reduce<string[]>((table, [char, byte]) => ((table[byte] = char), table), []);
  const utf8 = new TextDecoder('utf-8', { fatal: false });
  const utf8Encoder = new TextEncoder();
  const size = byId.length;
  const ranks = new Map<string, number>();
  (json.model?.merges ?? []).forEach((merge, rank) => ranks.set(typeof merge === 'string' ? merge : merge.join(' '), rank));
  const pieceCache = new Map<string, number[]>();

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
    encode(text) {
      const ids: number[] = [];
      for (const [piece] of text.matchAll(PIECES)) {
        let encoded = pieceCache.get(piece);
        if (!encoded) {
          const symbols = [...utf8Encoder.encode(piece)].map((byte) => charOf[byte]);
          encoded = bytePairEncode(symbols, ranks).map((token) => {
            const id = byToken.get(token);
            if (id === undefined) throw new ValidationError(`tokenizer.json cannot encode ${JSON.stringify(piece)} (no merges?)`);
            return id;
          });
          if (pieceCache.size < 10_000) pieceCache.set(piece, encoded);
        }
        ids.push(...encoded);
      }
      return ids;
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
