import { BENCH_SETS, type BenchSet } from './dataset.js';

/** Engine rows the benchmark knows, in table order. */
export const ROW_IDS = ['ours', 'ours-words', 'ours-steps', 'ours-original', 'transformers', 'fw-int8', 'fw-fp32', 'fw-int8-vad'] as const;
export type RowId = (typeof ROW_IDS)[number];

export interface BenchArgs {
  /** Whisper size: tiny, base or small. @defaultValue 'base' */
  model: string;
  /** @defaultValue both */
  sets: BenchSet[];
  /** First N LibriSpeech clips only. @defaultValue all */
  limit?: number;
  /** Intra-op threads for every engine. @defaultValue 2 */
  threads: number;
  /** @defaultValue all rows */
  rows: RowId[];
  /** Batch size passed to our engine; its own default when omitted. */
  batchSize?: number;
  /** Folder with manifest.jsonl. @defaultValue ../shared/audio next to the repo */
  audioDir?: string;
  /** Write bench/results/<date>-<commit>-inference.{md,json}. @defaultValue true */
  write: boolean;
  /** A row still running after this many seconds is stopped; the items it finished are scored. @defaultValue 1200 */
  rowTimeoutSec: number;
}

export const USAGE = `usage: npm run bench -- [--model tiny|base|small] [--set longform,librispeech] [--limit N]
                        [--threads N] [--rows ${ROW_IDS.join(',')}] [--batch-size N]
                        [--audio-dir DIR] [--row-timeout SECONDS] [--no-write]`;

function positiveInt(flag: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} needs a positive integer, got "${value ?? ''}"\n${USAGE}`);
  return n;
}

function list<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T[] {
  const parts = (value ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  const bad = parts.filter((p) => !allowed.includes(p as T));
  if (parts.length === 0 || bad.length > 0) {
    throw new Error(`${flag} takes a comma-separated list of ${allowed.join(', ')}; got "${value ?? ''}"\n${USAGE}`);
  }
  return allowed.filter((a) => parts.includes(a));
}

/** Parses the command line (the part after `npm run bench --`). Throws with the usage on bad input. */
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const args: BenchArgs = { model: 'base', sets: [...BENCH_SETS], threads: 2, rows: [...ROW_IDS], write: true, rowTimeoutSec: 1200 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2) as [string, string | undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case '--model': {
        const m = (value() ?? '').replace(/^whisper-/, '');
        if (!['tiny', 'base', 'small'].includes(m)) throw new Error(`--model must be tiny, base or small; got "${m}"\n${USAGE}`);
        args.model = m;
        break;
      }
      case '--set':
      case '--sets':
        args.sets = list('--set', value(), BENCH_SETS);
        break;
      case '--limit':
        args.limit = positiveInt('--limit', value());
        break;
      case '--threads':
        args.threads = positiveInt('--threads', value());
        break;
      case '--rows':
      case '--engines':
        args.rows = list('--rows', value(), ROW_IDS);
        break;
      case '--batch-size':
        args.batchSize = positiveInt('--batch-size', value());
        break;
      case '--audio-dir':
        args.audioDir = value();
        break;
      case '--row-timeout':
        args.rowTimeoutSec = positiveInt('--row-timeout', value());
        break;
      case '--no-write':
        args.write = false;
        break;
      case '--help':
      case '-h':
        throw new Error(USAGE);
      default:
        throw new Error(`unknown argument "${argv[i]}"\n${USAGE}`);
    }
  }
  return args;
}
