/**
 * Runs the offline model preparation (tools/model-prep/prepare_whisper.py,
 * Python with the pinned `onnx` and `onnxruntime` packages) for one model
 * folder and variant, into the folder the engine looks in.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { NotFoundError, UnavailableError } from '../../core/errors.js';
import { PACKAGE_ROOT } from '../../core/package-files.js';
import { preparedModelDir, preparedVadDir } from '../../inference/model/prepared.js';
import type { ModelVariant } from '../../inference/model/sessions.js';

const TOOLS = join(PACKAGE_ROOT, 'tools', 'model-prep');
export const PREPARE_WHISPER_SCRIPT = join(TOOLS, 'prepare_whisper.py');
export const PREPARE_VAD_SCRIPT = join(TOOLS, 'prepare_vad.py');

/**
 * The Python that has the preparation's packages: `MODEL_PREP_PYTHON`, else the
 * venv scripts/setup-model-prep.sh makes under `$MENO_TOOLS_DIR` (default
 * ~/.cache/meno-tools).
 * @throws NotFoundError saying how to install it.
 */
export function findPrepPython(env: NodeJS.ProcessEnv): string {
  if (env.MODEL_PREP_PYTHON) {
    if (!existsSync(env.MODEL_PREP_PYTHON)) throw new NotFoundError(`MODEL_PREP_PYTHON=${env.MODEL_PREP_PYTHON} does not exist`);
    return env.MODEL_PREP_PYTHON;
  }
  const venvPython = join(env.MENO_TOOLS_DIR ?? join(homedir(), '.cache', 'meno-tools'), 'model-prep-venv', 'bin', 'python');
  if (existsSync(venvPython)) return venvPython;
  throw new NotFoundError(
    `no Python for model preparation at ${venvPython}: run bash scripts/setup-model-prep.sh (or set MODEL_PREP_PYTHON to a Python with onnx and onnxruntime)`,
  );
}

export interface PrepareModelOptions {
  python: string;
  modelDir: string;
  variant: ModelVariant;
  /** Folder of prepared models (the engine's `preparedRoot`). */
  preparedRoot: string;
  /** Rebuild even when up to date. @defaultValue false */
  force?: boolean;
  /** Receives the tool's progress lines. */
  onLine?: (line: string) => void;
}

export interface PrepareModelResult {
  dir: string;
  outputs: string[];
}

/**
 * Prepares `modelDir` (one variant). Up-to-date graphs are kept (the tool
 * compares source hashes and the recipe version).
 * @throws UnavailableError with the tool's last words when it fails.
 */
export function prepareModel(options: PrepareModelOptions): Promise<PrepareModelResult> {
  const out = preparedModelDir(options.preparedRoot, options.modelDir, options.variant);
  return runTool(options, [PREPARE_WHISPER_SCRIPT, '--source', options.modelDir, '--variant', options.variant, '--out', out], `${options.modelDir} (${options.variant})`);
}

export interface PrepareVadOptions {
  python: string;
  /** The Silero v5 16 kHz model file. */
  modelPath: string;
  preparedRoot: string;
  force?: boolean;
  onLine?: (line: string) => void;
}

/** Prepares Silero VAD (a Scan over frames) from `modelPath`. */
export function prepareVad(options: PrepareVadOptions): Promise<PrepareModelResult> {
  const out = preparedVadDir(options.preparedRoot, options.modelPath);
  return runTool(options, [PREPARE_VAD_SCRIPT, '--source', options.modelPath, '--out', out], options.modelPath);
}

function runTool(options: { python: string; force?: boolean; onLine?: (line: string) => void }, args: string[], what: string): Promise<PrepareModelResult> {
  if (options.force) args.push('--force');
  return new Promise((resolvePromise, reject) => {
    const child = spawn(options.python, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
    let stdout = '';
    const tail: string[] = [];
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    let partial = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        // quantize_dynamic's advice to pre-process does not apply to these graphs.
        if (line.startsWith('WARNING:root:')) continue;
        tail.push(line);
        if (tail.length > 20) tail.shift();
        options.onLine?.(line);
      }
    });
    child.on('error', (err) => reject(new UnavailableError(`cannot run ${options.python}: ${err.message}`, { cause: err })));
    child.on('close', (code) => {
      if (code === 0) {
        const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { out: string; outputs: string[] };
        resolvePromise({ dir: result.out, outputs: result.outputs });
      } else {
        reject(new UnavailableError(`preparing ${what} failed (exit ${code}): ${tail.slice(-3).join(' | ')}`));
      }
    });
  });
}
