import { ValidationError } from '../../core/errors.js';

/** Weight precisions the worker loads (`MODEL_VARIANT`). */
export type ModelVariant = 'q8' | 'fp16' | 'fp32';

export const MODEL_VARIANTS: readonly ModelVariant[] = ['q8', 'fp16', 'fp32'];

/** Whisper sizes the fetch command knows, each mapped to its Hugging Face repository. */
export const MODEL_REPOS: Readonly<Record<string, string>> = Object.freeze({
  tiny: 'onnx-community/whisper-tiny',
  'tiny.en': 'onnx-community/whisper-tiny.en',
  base: 'onnx-community/whisper-base',
  'base.en': 'onnx-community/whisper-base.en',
  small: 'onnx-community/whisper-small',
  'small.en': 'onnx-community/whisper-small.en',
  medium: 'onnx-community/whisper-medium',
  'medium.en': 'onnx-community/whisper-medium.en',
  'large-v3': 'onnx-community/whisper-large-v3',
  'large-v3-turbo': 'onnx-community/whisper-large-v3-turbo',
});

/** File-name suffix of each variant in the transformers.js / Optimum layout. */
const VARIANT_SUFFIX: Record<ModelVariant, string> = { fp32: '', fp16: '_fp16', q8: '_quantized' };

/** JSON files the worker reads next to the graphs. tokenizer_config.json is optional in some exports. */
const REQUIRED_JSON = ['config.json', 'generation_config.json', 'preprocessor_config.json', 'tokenizer.json'];
const OPTIONAL_JSON = ['tokenizer_config.json'];

const GRAPHS = ['encoder_model', 'decoder_model_merged'];

/** One file of a Hugging Face repository as the tree API reports it. */
export interface RepoFile {
  /** Path inside the repository, `/`-separated. */
  path: string;
  /** Size in bytes. */
  size: number;
  /** SHA-256 of the content (hex), known for LFS files only. */
  sha256?: string;
  /** Git blob id (SHA-1 hex of `blob <size>\0<content>`), which verifies small non-LFS files. */
  gitOid?: string;
}

/** Where a model comes from and where it lands. */
export interface ModelSource {
  /** Short name, e.g. `base`. */
  name: string;
  /** `owner/name` on the hub. */
  repo: string;
  /** Folder name under the destination, e.g. `whisper-base`. */
  folder: string;
}

/**
 * Resolves a model name (`tiny`…`large-v3-turbo`) to its source; an explicit
 * `repoOverride` wins over the name. Throws ValidationError listing the known names.
 */
export function resolveModel(name: string | undefined, repoOverride?: string): ModelSource {
  if (repoOverride !== undefined) {
    if (!/^[\w.-]+\/[\w.-]+$/.test(repoOverride)) {
      throw new ValidationError(`--repo must look like owner/name, got '${repoOverride}'`);
    }
    const base = repoOverride.split('/')[1];
    return { name: base, repo: repoOverride, folder: base.startsWith('whisper-') ? base : `whisper-${base}` };
  }
  const repo = name !== undefined && Object.hasOwn(MODEL_REPOS, name) ? MODEL_REPOS[name] : undefined;
  if (name === undefined || !repo) {
    throw new ValidationError(`${name === undefined ? 'no model given' : `unknown model '${name}'`}: choose one of ${Object.keys(MODEL_REPOS).join(', ')} (or pass --repo owner/name)`);
  }
  return { name, repo, folder: `whisper-${name}` };
}

/** Checks a `--variant` value. */
export function parseVariant(value: string): ModelVariant {
  if ((MODEL_VARIANTS as readonly string[]).includes(value)) return value as ModelVariant;
  throw new ValidationError(`unknown variant '${value}': choose one of ${MODEL_VARIANTS.join(', ')}`);
}

/**
 * Picks the files one variant needs from a repository listing: the JSON
 * configs, the encoder and merged decoder of that precision, and their
 * external-data files (`*.onnx_data`, `*.onnx_data_1`, … for graphs over 2 GB).
 * Throws ValidationError when the repository lacks a required file, naming the
 * variants it does have.
 */
export function selectFiles(files: readonly RepoFile[], variant: ModelVariant): RepoFile[] {
  const byPath = new Map(files.map((f) => [f.path, f]));
  const picked: RepoFile[] = [];
  const missing: string[] = [];
  for (const json of REQUIRED_JSON) {
    const file = byPath.get(json);
    if (file) picked.push(file);
    else missing.push(json);
  }
  for (const json of OPTIONAL_JSON) {
    const file = byPath.get(json);
    if (file) picked.push(file);
  }
  for (const graph of GRAPHS) {
    const path = `onnx/${graph}${VARIANT_SUFFIX[variant]}.onnx`;
    const file = byPath.get(path);
    if (!file) {
      missing.push(path);
      continue;
    }
    picked.push(file);
    const dataPrefix = `${path}_data`;
    for (const f of files) {
      if (f.path === dataPrefix || f.path.startsWith(`${dataPrefix}_`)) picked.push(f);
    }
  }
  if (missing.length > 0) {
    const available = availableVariants(files);
    throw new ValidationError(
      `the repository has no ${variant} export (missing ${missing.join(', ')}); variants present: ${available.length > 0 ? available.join(', ') : 'none'}`,
    );
  }
  return picked;
}

/** Variants whose encoder and merged decoder both exist in a listing. */
export function availableVariants(files: readonly RepoFile[]): ModelVariant[] {
  const paths = new Set(files.map((f) => f.path));
  return MODEL_VARIANTS.filter((v) => GRAPHS.every((g) => paths.has(`onnx/${g}${VARIANT_SUFFIX[v]}.onnx`)));
}
