/**
 * What the benchmark hands each engine's child process (as a JSON file) and what
 * the child writes back. bench/faster_whisper_runner.py reads and writes the same shapes.
 */

export type EngineKind = 'ours' | 'transformers' | 'faster-whisper';

export interface EngineJob {
  engine: EngineKind;
  /** Row label in the table, e.g. "faster-whisper int8". */
  label: string;
  /** Model folder the engine loads. */
  modelDir: string;
  /** Model name, e.g. "whisper-base". */
  modelName: string;
  /** Intra-op threads for ONNX Runtime / CTranslate2. */
  threads: number;
  /** Language forced on every engine. */
  language: string;
  /** Transcribed once before the timed items; its time is not counted. */
  warmupPath: string;
  items: { id: string; path: string; durationSec: number }[];
  /** Engine-specific settings (compute type, VAD, batch size, …). */
  settings: Record<string, string | number | boolean>;
}

export interface EngineItemResult {
  id: string;
  text: string;
  /** Wall seconds from file path to full text (decoding the file included, model loading not). */
  wallSec: number;
}

export interface EngineResult {
  status: 'ok' | 'skipped' | 'failed';
  /** Why the row was skipped or failed. */
  reason?: string;
  /** Exactly which weights ran (package, folder, files, precision). */
  checkpoint: string;
  /** Seconds to load the model. */
  loadSec: number;
  /** Peak resident set of the child process in MB (getrusage ru_maxrss). */
  maxRssMb: number;
  items: EngineItemResult[];
  /** Library versions and similar facts for the report. */
  info: Record<string, string>;
}
