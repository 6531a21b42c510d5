/**
 * The offline model preparation (tools/model-prep) on the real tiny model:
 * what it writes, that it is reproducible and skips up-to-date work, and how
 * the engine treats prepared graphs that no longer match their source.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { PREPARED_RECIPE_VERSION, PREPARED_VAD_RECIPE_VERSION, findPreparedModel, preparedModelDir, type PreparedManifest } from '../../src/inference/model/prepared.js';
import { createWhisperSessions } from '../../src/inference/model/sessions.js';
import { findPrepPython, prepareModel, PREPARE_VAD_SCRIPT, PREPARE_WHISPER_SCRIPT } from '../../src/tools/model-prep/prepare-model.js';
import { runPrepareModelsCli } from '../../src/tools/model-prep/cli.js';
import { packagedModelDir, PREPARED_ROOT } from '../helpers/models.js';

const logger = pino({ level: 'silent' });
const python = findPrepPython(process.env);
const tinyDir = packagedModelDir('tiny');
let work: string;

function manifestOf(dir: string): PreparedManifest {
  return JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as PreparedManifest;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'meno-model-prep-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('prepare_whisper.py', () => {
  it('states the recipe versions the engine expects', () => {
    expect(readFileSync(PREPARE_WHISPER_SCRIPT, 'utf8')).toMatch(new RegExp(`^RECIPE_VERSION = ${PREPARED_RECIPE_VERSION}$`, 'm'));
    expect(readFileSync(PREPARE_VAD_SCRIPT, 'utf8')).toMatch(new RegExp(`^RECIPE_VERSION = ${PREPARED_VAD_RECIPE_VERSION}$`, 'm'));
  });

  it('builds byte-identical graphs to the provisioned ones, then skips the up-to-date folder', async () => {
    const root = join(work, 'fresh');
    const lines: string[] = [];
    const result = await prepareModel({ python, modelDir: tinyDir, variant: 'q8', preparedRoot: root, onLine: (l) => lines.push(l) });
    expect(result.dir).toBe(preparedModelDir(root, tinyDir, 'q8'));
    expect(result.outputs.sort()).toEqual(['onnx/decoder_model_merged_quantized.onnx', 'onnx/decoder_search_quantized.onnx', 'onnx/encoder_model_quantized.onnx']);
    expect(lines.at(-1)).toMatch(new RegExp(`ready: .* recipe ${PREPARED_RECIPE_VERSION}\\)`));

    const manifest = manifestOf(result.dir);
    expect(manifest).toMatchObject({ recipeVersion: PREPARED_RECIPE_VERSION, variant: 'q8', sourceDir: tinyDir });
    expect(Object.keys(manifest.sources)).toEqual(expect.arrayContaining(['config.json', 'onnx/decoder_model_merged_quantized.onnx', 'onnx/encoder_model_quantized.onnx']));
    // The same recipe on the same sources gives the same bytes as the copy provision.sh made.
    const provisioned = manifestOf(preparedModelDir(PREPARED_ROOT, tinyDir, 'q8'));
    for (const [file, record] of Object.entries(manifest.outputs)) expect(record.sha256, file).toBe(provisioned.outputs[file].sha256);

    const found = await findPreparedModel(root, tinyDir, 'q8');
    expect(found.found?.search).toBe(join(result.dir, 'onnx/decoder_search_quantized.onnx'));

    const again: string[] = [];
    const started = performance.now();
    await prepareModel({ python, modelDir: tinyDir, variant: 'q8', preparedRoot: root, onLine: (l) => again.push(l) });
    expect(again.join('\n')).toMatch(/up to date/);
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(manifestOf(result.dir).outputs).toEqual(manifest.outputs);
  }, 240_000);

  it('refuses a folder that is not a Whisper model, saying which file is missing', async () => {
    const notAModel = join(work, 'not-a-model');
    cpSync(join(tinyDir, 'config.json'), join(notAModel, 'config.json'));
    await expect(prepareModel({ python, modelDir: notAModel, variant: 'q8', preparedRoot: join(work, 'bad') })).rejects.toThrow(
      /preparing .*not-a-model.* failed .*encoder_model_quantized\.onnx is missing/,
    );
  }, 60_000);
});

describe('prepared graphs that no longer match their model', () => {
  let modelDir: string;
  let root: string;

  beforeAll(() => {
    // A private copy of tiny with prepared graphs copied beside it, so the test can change the copy.
    modelDir = join(work, 'tiny-copy');
    root = join(work, 'copy-prepared');
    cpSync(tinyDir, modelDir, { recursive: true });
    const dir = preparedModelDir(root, modelDir, 'q8');
    cpSync(preparedModelDir(PREPARED_ROOT, tinyDir, 'q8'), dir, { recursive: true });
    const manifest = manifestOf(dir);
    manifest.sourceDir = modelDir;
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  });

  it('are found while the sources are unchanged, even when copied (the hash decides when times differ)', async () => {
    const lookup = await findPreparedModel(root, modelDir, 'q8');
    expect(lookup.found, 'reason' in lookup ? lookup.reason : '').toBeDefined();
  });

  it('are ignored once a source changes: auto falls back to the originals, prepared refuses to start', async () => {
    const config = join(modelDir, 'config.json');
    const text = readFileSync(config, 'utf8');
    writeFileSync(config, `${text}\n`);
    utimesSync(config, new Date(), new Date());
    const lookup = await findPreparedModel(root, modelDir, 'q8');
    expect(lookup).toMatchObject({ reason: expect.stringMatching(/config\.json changed/) });

    const common = { modelDir, variant: 'q8' as const, executionProvider: 'cpu' as const, threads: 1, logger, preparedRoot: root, decoderLayers: 4, searchGraph: true };
    const fallback = await createWhisperSessions({ ...common, graphs: 'auto' });
    try {
      expect(fallback.prepared).toBeUndefined();
      expect(fallback.search).toBeUndefined();
    } finally {
      await fallback.release();
    }
    await expect(createWhisperSessions({ ...common, graphs: 'prepared' })).rejects.toThrow(/config\.json changed.*npm run prepare-models/s);
  }, 60_000);
});

describe('npm run prepare-models', () => {
  it('names an unknown model and exits 2 without writing anything', async () => {
    const stderr = new PassThrough();
    let text = '';
    stderr.setEncoding('utf8').on('data', (s: string) => (text += s));
    const modelsDir = join(work, 'cli-models');
    const code = await runPrepareModelsCli(['--model', 'no-such-model', '--models-dir', modelsDir], {
      stdout: new PassThrough(),
      stderr,
      env: { ...process.env, MODEL_PREP_PYTHON: python },
    });
    expect(code).toBe(2);
    expect(text).toMatch(/prepare-models: .*no-such-model/);
    expect(existsSync(modelsDir)).toBe(false);
  });
});
