import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ValidationError, coerceError } from '../../core/errors.js';
import { MODEL_REPOS, parseVariant, resolveModel } from './catalog.js';
import { fetchModel } from './fetch-model.js';
import { findPrepPython, prepareModel } from '../model-prep/prepare-model.js';
import { type ProgressStream, createProgress, formatBytes } from './progress.js';

export const USAGE = `usage: npm run fetch-models -- --model <name> [--variant q8|fp16|fp32] [--dest models]
                          [--base-url https://huggingface.co] [--revision main] [--repo owner/name]
  --model     ${Object.keys(MODEL_REPOS).join(', ')}
  --variant   weight precision (default q8; fp16 for GPUs)
  --dest      folder that receives whisper-<name>/ (default: $MODELS_DIR or ./models)
  --base-url  hub root (default: $HF_ENDPOINT or https://huggingface.co)
  --revision  branch, tag or commit to fetch (default main; pin a commit for reproducible images)
  --repo      fetch another repository in the same layout
  --prepare   then build its prepared graphs (npm run prepare-models; needs scripts/setup-model-prep.sh)
  HF_TOKEN in the environment authenticates gated repositories.`;

export interface CliIo {
  stdout: ProgressStream;
  stderr: ProgressStream;
  env: NodeJS.ProcessEnv;
  /** Test hook: pause between retries in milliseconds. @defaultValue 1000 */
  retryDelayMs?: number;
}

/**
 * Runs `fetch-models` with the given arguments and returns the exit code:
 * 0 done, 1 failed (offline, not found, verification), 2 bad usage.
 * Errors are printed as one line on stderr.
 */
export async function runFetchModelsCli(argv: string[], io: CliIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        model: { type: 'string', short: 'm' },
        variant: { type: 'string', default: 'q8' },
        dest: { type: 'string' },
        'base-url': { type: 'string' },
        revision: { type: 'string', default: 'main' },
        repo: { type: 'string' },
        prepare: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    io.stderr.write(`fetch-models: ${coerceError(err).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let variant;
  try {
    if (values.model === undefined && values.repo === undefined) throw new ValidationError('--model is required');
    resolveModel(values.model, values.repo);
    variant = parseVariant(values.variant);
  } catch (err) {
    io.stderr.write(`fetch-models: ${coerceError(err).message}\n`);
    return 2;
  }
  try {
    const result = await fetchModel({
      model: values.model,
      repo: values.repo,
      variant,
      dest: values.dest ?? io.env.MODELS_DIR ?? 'models',
      baseUrl: values['base-url'] ?? io.env.HF_ENDPOINT ?? 'https://huggingface.co',
      revision: values.revision,
      token: io.env.HF_TOKEN || undefined,
      progress: createProgress(io.stderr),
      retryDelayMs: io.retryDelayMs,
    });
    const fetched = result.files.filter((f) => f.outcome !== 'present').length;
    io.stdout.write(
      `${result.folder} ready: ${result.source.repo} ${result.variant}, ${result.files.length} files (${fetched} fetched), ${formatBytes(result.totalBytes)}. Use MODEL=${result.folder} MODEL_VARIANT=${result.variant}\n`,
    );
    if (!values.prepare) {
      io.stderr.write(`fetch-models: for about twice the speed, prepare it: npm run prepare-models -- --model ${result.folder} --variant ${result.variant}\n`);
      return 0;
    }
    const modelsDir = values.dest ?? io.env.MODELS_DIR ?? 'models';
    const prepared = await prepareModel({
      python: findPrepPython(io.env),
      modelDir: resolve(result.folder),
      variant: result.variant,
      preparedRoot: resolve(io.env.PREPARED_MODELS_DIR ?? join(modelsDir, 'prepared')),
      onLine: (line) => io.stderr.write(`${line}\n`),
    });
    io.stdout.write(`${result.folder} prepared → ${prepared.dir}\n`);
    return 0;
  } catch (err) {
    io.stderr.write(`fetch-models: ${coerceError(err).message}\n`);
    return 1;
  }
}
