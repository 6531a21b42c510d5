import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { coerceError } from '../../core/errors.js';
import { listAvailableModels, resolveModelDir } from '../../inference/model/resolve.js';
import type { ModelVariant } from '../../inference/model/sessions.js';
import { bundledSileroModelPath } from '../../inference/audio/vad.js';
import { findPrepPython, prepareModel, prepareVad } from './prepare-model.js';

export const USAGE = `usage: npm run prepare-models -- [--model <name or folder>]... [--variant q8|fp16|fp32] [--force]
  Builds the engine's prepared graphs (about twice as fast as the files models ship with).
  --model       a model name (tiny, base, large-v3-turbo, …) or folder; repeatable.
                Default: every model in $MODELS_DIR (./models) and the installed sts-whisper-* packages.
  --variant     only this variant (default: every variant the folder has)
  --models-dir  default $MODELS_DIR or ./models
  --prepared-dir  where prepared graphs go (default $PREPARED_MODELS_DIR or <models-dir>/prepared)
  --force       rebuild even when up to date
  Needs Python with onnx and onnxruntime: bash scripts/setup-model-prep.sh, or MODEL_PREP_PYTHON.`;

const VARIANT_FILE: Record<ModelVariant, string> = {
  q8: 'onnx/encoder_model_quantized.onnx',
  fp16: 'onnx/encoder_model_fp16.onnx',
  fp32: 'onnx/encoder_model.onnx',
};

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

/** The variants whose files `modelDir` holds. */
export function variantsIn(modelDir: string): ModelVariant[] {
  return (Object.keys(VARIANT_FILE) as ModelVariant[]).filter((v) => existsSync(join(modelDir, VARIANT_FILE[v])));
}

/** Runs `prepare-models`; returns the exit code: 0 done, 1 a model failed, 2 bad usage or no Python. */
export async function runPrepareModelsCli(argv: string[], io: CliIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        model: { type: 'string', short: 'm', multiple: true },
        variant: { type: 'string' },
        'models-dir': { type: 'string' },
        'prepared-dir': { type: 'string' },
        force: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    io.stderr.write(`prepare-models: ${coerceError(err).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.variant !== undefined && !(values.variant in VARIANT_FILE)) {
    io.stderr.write(`prepare-models: unknown variant "${values.variant}": use q8, fp16 or fp32\n`);
    return 2;
  }
  const modelsDir = resolve(values['models-dir'] ?? io.env.MODELS_DIR ?? 'models');
  let python: string;
  let dirs: string[];
  try {
    python = findPrepPython(io.env);
    dirs = values.model
      ? values.model.map((m) => resolveModelDir(m, { modelsDir }))
      : listAvailableModels(modelsDir, { includePackages: true }).map((m) => m.dir);
  } catch (err) {
    io.stderr.write(`prepare-models: ${coerceError(err).message}\n`);
    return 2;
  }
  if (dirs.length === 0) {
    io.stderr.write(`prepare-models: no models found in ${modelsDir} or installed packages\n`);
    return 2;
  }
  let failed = 0;
  const preparedRoot = resolve(values['prepared-dir'] ?? io.env.PREPARED_MODELS_DIR ?? join(modelsDir, 'prepared'));
  try {
    const vad = await prepareVad({ python, modelPath: bundledSileroModelPath(), preparedRoot, force: values.force, onLine: (line) => io.stderr.write(`${line}\n`) });
    io.stdout.write(`silero vad → ${vad.dir}\n`);
  } catch (err) {
    failed++;
    io.stderr.write(`prepare-models: ${coerceError(err).message}\n`);
  }
  for (const dir of dirs) {
    const variants = values.variant ? [values.variant as ModelVariant] : variantsIn(dir);
    if (variants.length === 0) io.stderr.write(`prepare-models: ${dir} has no encoder_model*.onnx; skipped\n`);
    for (const variant of variants) {
      const started = performance.now();
      try {
        const result = await prepareModel({
          python,
          modelDir: dir,
          variant,
          preparedRoot,
          force: values.force,
          onLine: (line) => io.stderr.write(`${line}\n`),
        });
        io.stdout.write(`${dir} (${variant}) → ${result.dir} [${((performance.now() - started) / 1000).toFixed(1)} s]\n`);
      } catch (err) {
        failed++;
        io.stderr.write(`prepare-models: ${coerceError(err).message}\n`);
      }
    }
  }
  return failed > 0 ? 1 : 0;
}
