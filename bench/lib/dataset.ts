import { readFileSync } from 'node:fs';
import path from 'node:path';

/** Which part of the corpus an item belongs to; each is one pair of columns in the table. */
export type BenchSet = 'longform' | 'librispeech';

export const BENCH_SETS: readonly BenchSet[] = ['longform', 'librispeech'];

export interface BenchItem {
  /** utt_id, or the long-form file's base name. */
  id: string;
  set: BenchSet;
  /** Absolute path of the audio file. */
  path: string;
  /** Audio duration in seconds, from the manifest. */
  durationSec: number;
  /** Reference transcript as the corpus writes it (normalised only when scored). */
  reference: string;
}

interface ManifestLine {
  file: string;
  text: string | null;
  duration_s: number | null;
  kind?: string;
  utt_id?: string;
  reference_file?: string;
}

export interface LoadItemsOptions {
  /** Folder holding manifest.jsonl (shared/audio). */
  audioDir: string;
  sets: readonly BenchSet[];
  /** Keep only the first N LibriSpeech clips (manifest order). @defaultValue all 69 */
  limit?: number;
}

function readManifest(audioDir: string): ManifestLine[] {
  return readFileSync(path.join(audioDir, 'manifest.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .map((line) => JSON.parse(line) as ManifestLine);
}

/**
 * The benchmark's items: the long-form file (reference from its `.txt`) and the
 * LibriSpeech clips (`kind` real_read_speech under `librispeech/`), in manifest order.
 */
export function loadBenchItems(options: LoadItemsOptions): BenchItem[] {
  const lines = readManifest(options.audioDir);
  const items: BenchItem[] = [];
  if (options.sets.includes('longform')) {
    const long = lines.find((l) => l.kind === 'long_form');
    if (!long || long.duration_s === null) throw new Error(`no long_form entry in ${options.audioDir}/manifest.jsonl`);
    const refFile = long.reference_file ?? long.file.replace(/\.[^.]+$/, '.txt');
    items.push({
      id: path.basename(long.file).replace(/\.[^.]+$/, ''),
      set: 'longform',
      path: path.join(options.audioDir, long.file),
      durationSec: long.duration_s,
      reference: readFileSync(path.join(options.audioDir, refFile), 'utf8').trim(),
    });
  }
  if (options.sets.includes('librispeech')) {
    const clips = lines.filter(
      (l) => l.kind === 'real_read_speech' && l.file.startsWith('librispeech/') && l.text !== null && l.duration_s !== null,
    );
    for (const clip of clips.slice(0, options.limit ?? clips.length)) {
      items.push({
        id: clip.utt_id ?? path.basename(clip.file),
        set: 'librispeech',
        path: path.join(options.audioDir, clip.file),
        durationSec: clip.duration_s as number,
        reference: clip.text as string,
      });
    }
  }
  return items;
}

/** The shortest LibriSpeech clip: every engine transcribes it once, untimed, before the timed items. */
export function warmupClip(audioDir: string): string {
  const clips = readManifest(audioDir).filter((l) => l.kind === 'real_read_speech' && l.file.startsWith('librispeech/'));
  if (clips.length === 0) throw new Error(`no LibriSpeech clips in ${audioDir}/manifest.jsonl`);
  const shortest = clips.reduce((a, b) => ((b.duration_s ?? Infinity) < (a.duration_s ?? Infinity) ? b : a));
  return path.join(audioDir, shortest.file);
}
