/**
 * Prepared graphs: what tools/model-prep builds offline from a model (the
 * engine-ready Whisper encoder, merged decoder and decode-loop graph; Silero
 * VAD as a Scan over frames). They live in `<preparedRoot>/<name>-<hash of
 * the source path>/` with a manifest.json that records the source files they
 * were made from; the engine uses them only while those sources are
 * unchanged, and otherwise falls back to the source files.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { ModelVariant } from './sessions.js';

/** Must equal RECIPE_VERSION in tools/model-prep/prepare_whisper.py (a unit test checks). */
export const PREPARED_RECIPE_VERSION = 2;
/** Must equal RECIPE_VERSION in tools/model-prep/prepare_vad.py (a unit test checks). */
export const PREPARED_VAD_RECIPE_VERSION = 1;

const VARIANT_SUFFIX: Record<ModelVariant, string> = { q8: '_quantized', fp16: '_fp16', fp32: '' };

interface FileRecord {
  sha256: string;
  bytes: number;
  mtimeMs: number;
}

export interface PreparedManifest {
  recipeVersion: number;
  variant?: ModelVariant;
  sourceDir: string;
  sources: Record<string, FileRecord>;
  outputs: Record<string, FileRecord>;
  steps?: Record<string, unknown>;
  tools: Record<string, string>;
}

export interface PreparedModel {
  dir: string;
  recipeVersion: number;
  encoder: string;
  decoder: string;
  /** The WhisperBeamSearch decode-loop graph. */
  search: string;
}

export type PreparedLookup<T> = { found: T; manifest: PreparedManifest } | { found?: undefined; reason: string };

function tagOf(path: string): string {
  return createHash('sha256').update(resolve(path)).digest('hex').slice(0, 10);
}

/** Where the prepared graphs of `modelDir` (one variant) belong under `preparedRoot`. */
export function preparedModelDir(preparedRoot: string, modelDir: string, variant: ModelVariant): string {
  return join(resolve(preparedRoot), `${basename(resolve(modelDir))}-${variant}-${tagOf(modelDir)}`);
}

/** Where the prepared Silero VAD made from `modelPath` belongs under `preparedRoot`. */
export function preparedVadDir(preparedRoot: string, modelPath: string): string {
  return join(resolve(preparedRoot), `silero-vad-${tagOf(modelPath)}`);
}

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * The manifest in `dir` when it was made by `recipe` from the files now in
 * `sourceDir` and its `outputs` are all there. Sources are compared by size
 * and modification time, and by SHA-256 only when the time differs (a copied
 * folder), so the check costs milliseconds on a normal start.
 */
async function freshManifest(dir: string, sourceDir: string, recipe: number, outputs: readonly string[]): Promise<PreparedLookup<true>> {
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) return { reason: `no prepared graphs at ${dir}` };
  let manifest: PreparedManifest;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as PreparedManifest;
  } catch (err) {
    return { reason: `unreadable ${manifestPath}: ${(err as Error).message}` };
  }
  if (manifest.recipeVersion !== recipe) return { reason: `prepared with recipe ${manifest.recipeVersion}, this engine needs recipe ${recipe}` };
  if (resolve(manifest.sourceDir) !== resolve(sourceDir)) return { reason: `${manifestPath} describes ${manifest.sourceDir}` };
  for (const [name, record] of Object.entries(manifest.sources ?? {})) {
    const path = join(sourceDir, name);
    let stat;
    try {
      stat = statSync(path);
    } catch {
      return { reason: `source file ${path} is gone` };
    }
    if (stat.size !== record.bytes) return { reason: `source file ${path} changed size since it was prepared` };
    if (Math.trunc(stat.mtimeMs) !== record.mtimeMs && (await sha256(path)) !== record.sha256) {
      return { reason: `source file ${path} changed since it was prepared` };
    }
  }
  for (const file of outputs) {
    const record = manifest.outputs?.[file];
    const path = join(dir, file);
    if (!record || !existsSync(path) || statSync(path).size !== record.bytes) return { reason: `prepared file ${path} is missing or incomplete` };
  }
  return { found: true, manifest };
}

/** The prepared Whisper graphs for `modelDir` and `variant`, when they exist and match the folder's files. */
export async function findPreparedModel(preparedRoot: string, modelDir: string, variant: ModelVariant): Promise<PreparedLookup<PreparedModel>> {
  const dir = preparedModelDir(preparedRoot, modelDir, variant);
  const suffix = VARIANT_SUFFIX[variant];
  const files = {
    encoder: `onnx/encoder_model${suffix}.onnx`,
    decoder: `onnx/decoder_model_merged${suffix}.onnx`,
    search: `onnx/decoder_search${suffix}.onnx`,
  };
  const check = await freshManifest(dir, modelDir, PREPARED_RECIPE_VERSION, Object.values(files));
  if (!check.found) return check;
  if (check.manifest.variant !== variant) return { reason: `${dir} holds the ${String(check.manifest.variant)} variant` };
  return {
    found: {
      dir,
      recipeVersion: check.manifest.recipeVersion,
      encoder: join(dir, files.encoder),
      decoder: join(dir, files.decoder),
      search: join(dir, files.search),
    },
    manifest: check.manifest,
  };
}

/** The prepared (Scan) Silero VAD made from `modelPath`, when it exists and matches that file. */
export async function findPreparedVad(preparedRoot: string, modelPath: string): Promise<PreparedLookup<string>> {
  const dir = preparedVadDir(preparedRoot, modelPath);
  const check = await freshManifest(dir, resolve(modelPath, '..'), PREPARED_VAD_RECIPE_VERSION, ['silero_vad_scan.onnx']);
  if (!check.found) return check;
  if (!Object.hasOwn(check.manifest.sources, basename(modelPath))) return { reason: `${dir} was made from another file` };
  return { found: join(dir, 'silero_vad_scan.onnx'), manifest: check.manifest };
}
