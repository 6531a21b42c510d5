/**
 * English text normalisation for WER, following the rules of Whisper's
 * `EnglishTextNormalizer` (openai/whisper `normalizers/english.py`) so that the
 * figures here compare with published Whisper WERs. Implemented:
 * - lower case; text in `[...]`, `<...>` and `(...)` removed; fillers (hmm, mm, mhm, mmm, uh, um) removed;
 * - contractions and titles expanded (won't → will not, n't → not, 's → is, 're → are, mr → mister, …);
 * - commas inside numbers and periods not followed by a digit removed;
 * - diacritics dropped (NFKD), every other mark, symbol and punctuation turned into a space
 *   (`. % $ ¢ € £` kept only where they touch a digit);
 * - spelled-out numbers turned into digits ("twenty one" → "21", "nineteen ninety" → "1990",
 *   "two hundred and five" → "205", ordinals and plurals keep their suffix: "twenty first" → "21st");
 *   "one"/"ones" stay words, as in Whisper;
 * - British → American spellings from a word map (Whisper's `english.json`, which every
 *   transformers.js Whisper model folder ships as `normalizer.json`), when one is given;
 * - runs of whitespace collapsed, ends trimmed.
 * Not implemented: Whisper's currency rewriting ("twenty dollars" → "$20"), "and a half",
 * "per cent" and plus/minus prefixes. Those only matter for text with money or signs.
 */

const ONES = [
  'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve',
  'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen',
];
const ONES_VALUE = new Map(ONES.map((name, i) => [name, i + 1]));
const ORDINAL_IRREGULAR: Record<string, number> = { first: 1, second: 2, third: 3, fifth: 5, twelfth: 12 };
const SUFFIX_FOR: Record<number, string> = { 1: 'st', 2: 'nd', 3: 'rd' };

/** Suffixed ones: "sixes"/"fours" (plural) and "fourth"/"ninth"/"first" (ordinal) → [value, suffix]. */
const ONES_SUFFIXED = new Map<string, [number, string]>();
for (const [name, value] of ONES_VALUE) {
  ONES_SUFFIXED.set(name === 'six' ? 'sixes' : `${name}s`, [value, 's']);
  if (value > 3 && value !== 5 && value !== 12) {
    ONES_SUFFIXED.set(name.endsWith('t') ? `${name}h` : `${name}th`, [value, 'th']);
  }
}
ONES_SUFFIXED.set('zeroth', [0, 'th']);
for (const [name, value] of Object.entries(ORDINAL_IRREGULAR)) ONES_SUFFIXED.set(name, [value, SUFFIX_FOR[value] ?? 'th']);
// Whisper's table spells it "nineth"; accept the real word too
ONES_SUFFIXED.set('ninth', [9, 'th']);

const TENS = new Map<string, number>([
  ['twenty', 20], ['thirty', 30], ['forty', 40], ['fifty', 50],
  ['sixty', 60], ['seventy', 70], ['eighty', 80], ['ninety', 90],
]);
const TENS_SUFFIXED = new Map<string, [number, string]>();
for (const [name, value] of TENS) {
  TENS_SUFFIXED.set(name.replace('y', 'ies'), [value, 's']);
  TENS_SUFFIXED.set(name.replace('y', 'ieth'), [value, 'th']);
}

const MULTIPLIERS = new Map<string, number>([
  ['hundred', 100], ['thousand', 1_000], ['million', 1_000_000], ['billion', 1_000_000_000], ['trillion', 1e12],
]);
const MULTIPLIERS_SUFFIXED = new Map<string, [number, string]>();
for (const [name, value] of MULTIPLIERS) {
  MULTIPLIERS_SUFFIXED.set(`${name}s`, [value, 's']);
  MULTIPLIERS_SUFFIXED.set(`${name}th`, [value, 'th']);
}

const ZEROS = new Set(['o', 'oh', 'zero']);
const SPECIALS = new Set(['and', 'double', 'triple', 'point']);
const DECIMALS = new Set([...ONES_VALUE.keys(), ...TENS.keys(), ...ZEROS]);
const NUMBER_WORDS = new Set<string>([
  ...ZEROS, ...ONES_VALUE.keys(), ...ONES_SUFFIXED.keys(), ...TENS.keys(), ...TENS_SUFFIXED.keys(),
  ...MULTIPLIERS.keys(), ...MULTIPLIERS_SUFFIXED.keys(), ...SPECIALS,
]);
const NUMERIC = /^\d+(\.\d+)?$/;

type NumberValue = number | string | null;

/** Appends `digits` to a running value, or adds them when the place is free ("twenty" + "one" = 21). */
function combine(value: number | string, prev: string | undefined, n: number, placeUnit: number): string | number {
  if (typeof value === 'string' || (prev !== undefined && ONES_VALUE.has(prev))) {
    const s = String(value);
    if (prev !== undefined && TENS.has(prev) && n < 10 && s.endsWith('0')) return s.slice(0, -1) + String(n);
    return s + String(n);
  }
  return value % placeUnit === 0 ? value + n : String(value) + String(n);
}

function tensCombine(value: number | string, t: number): string | number {
  if (typeof value === 'string') return value + String(t);
  return value % 100 === 0 ? value + t : String(value) + String(t);
}

function multiply(value: number | string, m: number): number | null {
  const f = typeof value === 'string' ? Number(value) : value;
  if (typeof value === 'string' || value === 0) {
    const p = f * m;
    return Number.isFinite(p) && Number.isInteger(p) && value !== '' ? p : null;
  }
  return Math.floor(value / 1000) * 1000 + (value % 1000) * m;
}

/** Turns spelled-out numbers in a space-separated, lower-case word list into digits. */
export function standardizeNumbers(text: string): string {
  let s = text.replace(/([a-z])([0-9])/g, '$1 $2').replace(/([0-9])([a-z])/g, '$1 $2');
  s = s.replace(/([0-9])\s+(st|nd|rd|th|s)\b/g, '$1$2');
  const words = s.split(' ').filter((w) => w.length > 0);
  const out: string[] = [];
  let value: NumberValue = null;
  const flush = (): void => {
    if (value !== null) out.push(String(value));
    value = null;
  };
  for (let i = 0; i < words.length; i++) {
    const prev = words[i - 1];
    const word = words[i];
    const next = words[i + 1];
    const nextIsNumeric = next !== undefined && NUMERIC.test(next);
    const nextIsNumberish = next !== undefined && (NUMBER_WORDS.has(next) || nextIsNumeric);
    if (NUMERIC.test(word)) {
      if (typeof value === 'string' && value.endsWith('.')) {
        value += word;
        continue;
      }
      flush();
      value = /^\d+$/.test(word) ? Number(word) : word;
    } else if (!NUMBER_WORDS.has(word)) {
      flush();
      out.push(word);
    } else if (ZEROS.has(word)) {
      value = String(value ?? '') + '0';
    } else if (ONES_VALUE.has(word)) {
      const n = ONES_VALUE.get(word) as number;
      value = value === null ? n : combine(value, prev, n, n < 10 ? 10 : 100);
    } else if (ONES_SUFFIXED.has(word)) {
      const [n, suffix] = ONES_SUFFIXED.get(word) as [number, string];
      const combined = value === null ? n : combine(value, prev, n, n < 10 ? 10 : 100);
      out.push(String(combined) + suffix);
      value = null;
    } else if (TENS.has(word)) {
      const t = TENS.get(word) as number;
      value = value === null ? t : tensCombine(value, t);
    } else if (TENS_SUFFIXED.has(word)) {
      const [t, suffix] = TENS_SUFFIXED.get(word) as [number, string];
      out.push(String(value === null ? t : tensCombine(value, t)) + suffix);
      value = null;
    } else if (MULTIPLIERS.has(word)) {
      const m = MULTIPLIERS.get(word) as number;
      if (value === null) {
        value = m;
      } else {
        const p = multiply(value, m);
        if (p === null) {
          flush();
          value = m;
        } else {
          value = p;
        }
      }
    } else if (MULTIPLIERS_SUFFIXED.has(word)) {
      const [m, suffix] = MULTIPLIERS_SUFFIXED.get(word) as [number, string];
      const p = value === null ? m : multiply(value, m);
      if (p === null) {
        flush();
        out.push(String(m) + suffix);
      } else {
        out.push(String(p) + suffix);
      }
      value = null;
    } else if (!nextIsNumberish) {
      // a special word ("and", "point", "double", "triple") that does not lead into a number
      flush();
      out.push(word);
    } else if (word === 'and') {
      // "two hundred and five": "and" after a multiplier joins the number
      if (prev === undefined || !MULTIPLIERS.has(prev)) {
        flush();
        out.push(word);
      }
    } else if (word === 'double' || word === 'triple') {
      if (next !== undefined && (ONES_VALUE.has(next) || ZEROS.has(next))) {
        const digit = String(ONES_VALUE.get(next) ?? 0);
        value = String(value ?? '') + digit.repeat(word === 'double' ? 2 : 3);
        i++;
      } else {
        flush();
        out.push(word);
      }
    } else if (next !== undefined && (DECIMALS.has(next) || nextIsNumeric)) {
      // "point" before a digit word
      value = String(value ?? '') + '.';
    } else {
      flush();
      out.push(word);
    }
  }
  flush();
  // Whisper writes "one(s)" rather than "1(s)" for readability
  return out.join(' ').replace(/\b1(s?)\b/g, 'one$1');
}

const ADDITIONAL_DIACRITICS: Record<string, string> = {
  œ: 'oe', Œ: 'OE', ø: 'o', Ø: 'O', æ: 'ae', Æ: 'AE', ß: 'ss', ẞ: 'SS', đ: 'd', Đ: 'D',
  ð: 'd', Ð: 'D', þ: 'th', Þ: 'th', ł: 'l', Ł: 'L',
};

/** Drops diacritics and turns marks, symbols and punctuation into spaces, except the characters in `keep`. */
export function removeSymbolsAndDiacritics(text: string, keep = ''): string {
  let out = '';
  for (const c of text.normalize('NFKD')) {
    if (keep.includes(c)) out += c;
    else if (c in ADDITIONAL_DIACRITICS) out += ADDITIONAL_DIACRITICS[c];
    else if (/\p{Mn}/u.test(c)) continue;
    else if (/[\p{M}\p{S}\p{P}]/u.test(c)) out += ' ';
    else out += c;
  }
  return out;
}

const REPLACERS: [RegExp, string][] = [
  [/\bwon't\b/g, 'will not'], [/\bcan't\b/g, 'can not'], [/\blet's\b/g, 'let us'], [/\bain't\b/g, 'aint'],
  [/\by'all\b/g, 'you all'], [/\bwanna\b/g, 'want to'], [/\bgotta\b/g, 'got to'], [/\bgonna\b/g, 'going to'],
  [/\bi'ma\b/g, 'i am going to'], [/\bimma\b/g, 'i am going to'], [/\bwoulda\b/g, 'would have'],
  [/\bcoulda\b/g, 'could have'], [/\bshoulda\b/g, 'should have'], [/\bma'am\b/g, 'madam'],
  [/\bmr\b/g, 'mister '], [/\bmrs\b/g, 'missus '], [/\bst\b/g, 'saint '], [/\bdr\b/g, 'doctor '],
  [/\bprof\b/g, 'professor '], [/\bcapt\b/g, 'captain '], [/\bgov\b/g, 'governor '], [/\bald\b/g, 'alderman '],
  [/\bgen\b/g, 'general '], [/\bsen\b/g, 'senator '], [/\brep\b/g, 'representative '],
  [/\bpres\b/g, 'president '], [/\brev\b/g, 'reverend '], [/\bhon\b/g, 'honorable '],
  [/\basst\b/g, 'assistant '], [/\bassoc\b/g, 'associate '], [/\blt\b/g, 'lieutenant '],
  [/\bcol\b/g, 'colonel '], [/\bjr\b/g, 'junior '], [/\bsr\b/g, 'senior '], [/\besq\b/g, 'esquire '],
  [/'d been\b/g, ' had been'], [/'s been\b/g, ' has been'], [/'d gone\b/g, ' had gone'],
  [/'s gone\b/g, ' has gone'], [/'d done\b/g, ' had done'], [/'s got\b/g, ' has got'],
  [/n't\b/g, ' not'], [/'re\b/g, ' are'], [/'s\b/g, ' is'], [/'d\b/g, ' would'], [/'ll\b/g, ' will'],
  [/'t\b/g, ' not'], [/'ve\b/g, ' have'], [/'m\b/g, ' am'],
];

export interface EnglishNormalizerOptions {
  /** British → American word map (lower case), e.g. the model folder's `normalizer.json`. @defaultValue no spelling changes */
  spellings?: Readonly<Record<string, string>>;
}

/** Builds a Whisper-style English normaliser: `normalize("Mr. Smith's 2 CATS!") === "mister smith is 2 cats"`. */
export function createEnglishNormalizer(options: EnglishNormalizerOptions = {}): (text: string) => string {
  const spellings = options.spellings ?? {};
  return (text: string): string => {
    let s = text.toLowerCase();
    s = s.replace(/[<[][^>\]]*[>\]]/g, '');
    s = s.replace(/\(([^)]+?)\)/g, '');
    s = s.replace(/\b(hmm|mm|mhm|mmm|uh|um)\b/g, '');
    s = s.replace(/[’‘]/g, "'");
    s = s.replace(/\s+'/g, "'");
    for (const [pattern, replacement] of REPLACERS) s = s.replace(pattern, replacement);
    s = s.replace(/(\d),(\d)/g, '$1$2');
    s = s.replace(/\.([^0-9]|$)/g, ' $1');
    s = removeSymbolsAndDiacritics(s, '.%$¢€£');
    s = s.replace(/\s+/g, ' ').trim();
    s = standardizeNumbers(s);
    s = s
      .split(' ')
      .map((w) => (Object.hasOwn(spellings, w) ? spellings[w] : w))
      .join(' ');
    s = s.replace(/([$¢€£])\s+([0-9])/g, '$1$2');
    s = s.replace(/([0-9])\s+%/g, '$1%');
    s = s.replace(/[.$¢€£](?=[^0-9]|$)/g, ' ');
    s = s.replace(/(^|[^0-9])%/g, '$1 ');
    return s.replace(/\s+/g, ' ').trim();
  };
}
