import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { packageVersion } from './package-version.js';

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGb: number;
  node: string;
  onnxruntimeNode: string;
  transformersJs: string;
  /** 1-minute load average when the run started: other work on the machine skews timings. */
  loadAverage: number;
  commit: string;
  dirty: boolean;
}

/** The CPU model name (from /proc/cpuinfo on Linux). */
export function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
    if (line) return line.split(':')[1].trim();
  } catch {
    // not Linux: fall back to os.cpus()
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

/** Short commit of the checkout and whether tracked files have uncommitted changes. */
export function gitState(repoRoot: string): { commit: string; dirty: boolean } {
  const git = (...args: string[]): string => {
    try {
      return execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return '';
    }
  };
  return { commit: git('rev-parse', '--short', 'HEAD') || 'nogit', dirty: git('status', '--porcelain', '--untracked-files=no').length > 0 };
}

/** Facts printed in the results file's header. */
export function machineInfo(repoRoot: string): MachineInfo {
  const cpu = cpuModel();
  return {
    cpu,
    cores: os.cpus().length,
    memoryGb: os.totalmem() / 2 ** 30,
    node: process.version,
    onnxruntimeNode: packageVersion('onnxruntime-node'),
    transformersJs: packageVersion('@huggingface/transformers'),
    loadAverage: os.loadavg()[0],
    ...gitState(repoRoot),
  };
}
