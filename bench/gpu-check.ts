/**
 * GPU check, one command on a GPU host (`bash scripts/gpu-check.sh`, or
 * `node --import tsx bench/gpu-check.ts [--model-dir DIR] [--variant fp16] [--providers cuda,webgpu]`):
 * which execution providers load, and for each the time per window and per
 * token and the real-time factor of the step loop and the single graph on a
 * prepared model. Prints a table and writes it to bench/results/<date>-<commit>-gpu.md.
 *
 * The model: --model-dir, else the first fp16 folder under ./models
 * (npm run fetch-models -- --model base --variant fp16 --prepare), else the
 * bundled base q8 (whose integer ops the CUDA provider partly leaves on the CPU:
 * the figures then say little about a real fp16 deployment).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { findPreparedModel } from '../src/inference/model/prepared.js';
import { cudaProviderInstalled, type ExecutionProvider, type ModelVariant } from '../src/inference/model/sessions.js';
import { findPrepPython, prepareModel } from '../src/tools/model-prep/prepare-model.js';
import { machineInfo } from './lib/machine.js';
import { onnxModelDir } from './lib/rows.js';
import { MICRO_PATHS, runMicro, type MicroRow } from './lib/token-micro.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function defaultModel(): { dir: string; variant: ModelVariant } {
  const models = path.join(repoRoot, 'models');
  if (existsSync(models)) {
    for (const name of readdirSync(models).sort()) {
      if (existsSync(path.join(models, name, 'onnx', 'encoder_model_fp16.onnx'))) return { dir: path.join(models, name), variant: 'fp16' };
    }
  }
  return { dir: onnxModelDir('base').dir, variant: 'q8' };
}

function gpuList(): string {
  const smi = spawnSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], { encoding: 'utf8' });
  return smi.status === 0 ? smi.stdout.trim().split('\n').join('; ') : 'nvidia-smi not available';
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { 'model-dir': { type: 'string' }, variant: { type: 'string' }, providers: { type: 'string', default: 'cuda,webgpu' } },
  });
  const fallback = defaultModel();
  const modelDir = path.resolve(values['model-dir'] ?? fallback.dir);
  const variant = (values.variant ?? (values['model-dir'] ? 'fp16' : fallback.variant)) as ModelVariant;
  const providers = values.providers.split(',').map((p) => p.trim()) as ExecutionProvider[];
  const preparedDir = path.join(repoRoot, 'models', 'prepared');
  const audioPath = path.join(repoRoot, '..', 'shared', 'audio', 'longform', 'dev_longform.flac');

  if (!(await findPreparedModel(preparedDir, modelDir, variant)).found) {
    console.error(`gpu-check: preparing ${modelDir} (${variant}) …`);
    await prepareModel({ python: findPrepPython(process.env), modelDir, variant, preparedRoot: preparedDir, onLine: (l) => console.error(l) });
  }

  const machine = machineInfo(repoRoot);
  const lines = [
    `# GPU check, ${path.basename(modelDir)} ${variant}, ${new Date().toISOString().slice(0, 10)}`,
    '',
    `- commit: ${machine.commit}${machine.dirty ? ' (uncommitted changes)' : ''}; machine: ${machine.cpu}, ${machine.cores} cores`,
    `- GPUs: ${gpuList()}; CUDA provider library installed: ${cudaProviderInstalled() ? 'yes' : 'no'}; onnxruntime-node ${machine.onnxruntimeNode}`,
    '- one 30-s window of the long-form file from 60 s, batch 1, median of 5 after a warm-up; RTF = 30 s / time to decode the window',
    '',
    '| provider | decode path | per window before decoding, ms | per token, ms | tokens | window, ms | RTF (× real time) |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const provider of providers) {
    let rows: MicroRow[];
    try {
      rows = await runMicro({
        modelDir,
        variant,
        executionProvider: provider,
        preparedDir,
        audioPath,
        startSec: 60,
        threads: Math.min(4, os.availableParallelism()),
        repeats: 5,
        paths: MICRO_PATHS.filter((p) => p.settings.graphs === 'prepared').map((p) => p.label),
      });
    } catch (err) {
      lines.push(`| ${provider} | unavailable: ${(err as Error).message.split('\n')[0].replace(/\|/g, '\\|')} | | | | | |`);
      continue;
    }
    for (const r of rows) {
      lines.push(`| ${provider} | ${r.label} | ${r.windowMs.toFixed(1)} | ${r.tokenMs.toFixed(2)} | ${r.tokens} | ${r.decodeMs.toFixed(1)} | ${(30_000 / r.decodeMs).toFixed(1)} |`);
    }
  }
  const doc = `${lines.join('\n')}\n`;
  console.log(doc);
  const dir = path.join(repoRoot, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `${new Date().toISOString().slice(0, 10)}-${machine.commit}-gpu.md`), doc);
}

await main();
