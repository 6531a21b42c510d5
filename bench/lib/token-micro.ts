/**
 * The per-token micro-benchmark under the results table: one 30-s window of
 * the long-form file through each decode path of this engine, in one process
 * (`node --import tsx bench/lib/token-micro.ts <job.json> <out.json>`).
 *
 * A window decoded to the end costs encoder + prompt + n tokens; the same
 * window capped at 2 new tokens costs encoder + prompt + 2. Their difference
 * over n − 2 is the time per token, and the capped run is the per-window cost
 * before decoding. Medians of `repeats` runs after one warm-up.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createLogger } from '../../src/core/logger.js';
import { AudioDecoder } from '../../src/inference/audio/decode.js';
import { loadWhisperEngine, type EngineOptions } from '../../src/inference/engine.js';
import type { ExecutionProvider, ModelVariant } from '../../src/inference/model/sessions.js';

export interface MicroJob {
  modelDir: string;
  /** @defaultValue 'q8' */
  variant?: ModelVariant;
  /** @defaultValue 'cpu' */
  executionProvider?: ExecutionProvider;
  /** Decode paths to time. @defaultValue all of {@link MICRO_PATHS} */
  paths?: string[];
  preparedDir: string;
  audioPath: string;
  /** Window start in the file, seconds. */
  startSec: number;
  threads: number;
  repeats: number;
}

export interface MicroRow {
  label: string;
  /** Encoder, features and prompt of one window (the 2-token decode), ms. */
  windowMs: number;
  /** Each further greedy token, ms. */
  tokenMs: number;
  tokens: number;
  /** The whole window decoded, ms. */
  decodeMs: number;
}

export const MICRO_PATHS: { label: string; settings: Pick<EngineOptions, 'graphs' | 'decodeLoop'> }[] = [
  { label: 'shipped q8 files, step loop', settings: { graphs: 'original', decodeLoop: 'steps' } },
  { label: 'prepared graphs, step loop', settings: { graphs: 'prepared', decodeLoop: 'steps' } },
  { label: 'prepared graphs, single graph', settings: { graphs: 'prepared', decodeLoop: 'graph' } },
];

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timeDecode(decode: () => Promise<number>, repeats: number): Promise<{ ms: number; tokens: number }> {
  let tokens = await decode();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    tokens = await decode();
    times.push(performance.now() - t0);
  }
  return { ms: median(times), tokens };
}

export async function runMicro(job: MicroJob): Promise<MicroRow[]> {
  const logger = createLogger({ level: 'warn' });
  const { pcm } = await new AudioDecoder({ logger }).decode(job.audioPath);
  const window = await pcm.read(Math.round(job.startSec * 16_000), Math.round((job.startSec + 30) * 16_000));
  await pcm.dispose();
  const rows: MicroRow[] = [];
  for (const path of MICRO_PATHS.filter((p) => !job.paths || job.paths.includes(p.label))) {
    // One temperature: a capped decode must not fall back to sampling.
    const common: EngineOptions = {
      modelDir: job.modelDir,
      variant: job.variant ?? 'q8',
      preparedRoot: job.preparedDir,
      threads: job.threads,
      batchSize: 1,
      executionProvider: job.executionProvider ?? 'cpu',
      temperatures: [0],
      logger,
      ...path.settings,
    };
    const full = await loadWhisperEngine(common);
    const capped = await loadWhisperEngine({ ...common, maxNewTokens: 2 });
    try {
      const decode = (engine: typeof full) => async () => (await engine.decodeWindows([window], { language: 'en' }))[0].tokens.length;
      const whole = await timeDecode(decode(full), job.repeats);
      const prompt = await timeDecode(decode(capped), job.repeats);
      rows.push({ label: path.label, windowMs: prompt.ms, tokenMs: (whole.ms - prompt.ms) / Math.max(1, whole.tokens - prompt.tokens), tokens: whole.tokens, decodeMs: whole.ms });
    } finally {
      await Promise.all([full.release(), capped.release()]);
    }
  }
  return rows;
}

/** One line per decode path for the results file. */
export function formatMicro(rows: readonly MicroRow[], job: Pick<MicroJob, 'startSec' | 'threads' | 'repeats'>): string {
  const lines = [`Per-token micro-benchmark (one 30-s long-form window from ${job.startSec} s, batch 1, ${job.threads} threads, median of ${job.repeats}):`];
  for (const r of rows) lines.push(`- ${r.label}: ${r.tokenMs.toFixed(1)} ms per token, ${r.windowMs.toFixed(0)} ms per window before decoding (${r.tokens} tokens)`);
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const [jobPath, outPath] = process.argv.slice(2);
  const job = JSON.parse(readFileSync(jobPath, 'utf8')) as MicroJob;
  writeFileSync(outPath, JSON.stringify(await runMicro(job)));
}
