/**
 * ONNX Runtime sessions of a Whisper model: file choice per variant (the
 * prepared graphs when they are there), the execution-provider choice, the
 * one place that calls `session.run()`, and release.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Logger } from '../../core/logger.js';
import { NotFoundError, UnavailableError, ValidationError, coerceError } from '../../core/errors.js';
import { findPreparedModel, type PreparedModel } from './prepared.js';

export type ModelVariant = 'q8' | 'fp16' | 'fp32';
export type ExecutionProviderSetting = 'auto' | 'cpu' | 'cuda' | 'webgpu';
export type ExecutionProvider = 'cpu' | 'cuda' | 'webgpu';
/** Which graph files to load: prepared ones when present ('auto'), only prepared ones, or the model folder's own. */
export type GraphSource = 'auto' | 'prepared' | 'original';

const VARIANT_SUFFIX: Record<ModelVariant, string> = { q8: '_quantized', fp16: '_fp16', fp32: '' };

/**
 * Paths of the encoder and merged decoder for a variant:
 * `onnx/encoder_model{suffix}.onnx` and `onnx/decoder_model_merged{suffix}.onnx`.
 * @throws ValidationError on an unknown variant; NotFoundError listing the missing files.
 */
export function modelFiles(modelDir: string, variant: ModelVariant): { encoder: string; decoder: string } {
  if (!Object.hasOwn(VARIANT_SUFFIX, variant)) {
    throw new ValidationError(`unknown model variant "${String(variant)}": use one of ${Object.keys(VARIANT_SUFFIX).join(', ')}`);
  }
  const suffix = VARIANT_SUFFIX[variant];
  const encoder = join(modelDir, 'onnx', `encoder_model${suffix}.onnx`);
  const decoder = join(modelDir, 'onnx', `decoder_model_merged${suffix}.onnx`);
  const missing = [encoder, decoder].filter((path) => !existsSync(path));
  if (missing.length > 0) {
    throw new NotFoundError(`model variant "${variant}" is incomplete in ${modelDir}; missing: ${missing.join(', ')}`);
  }
  return { encoder, decoder };
}

/**
 * The providers to try, in order, for a setting: 'auto' → cuda then cpu.
 * @throws ValidationError on an unknown setting.
 */
export function executionProviderCandidates(setting: ExecutionProviderSetting, cudaInstalled = cudaProviderInstalled()): ExecutionProvider[] {
  switch (setting) {
    case 'auto':
      // Without the CUDA provider library (a CPU-only install) trying CUDA only prints ORT's load error.
      return cudaInstalled ? ['cuda', 'cpu'] : ['cpu'];
    case 'cuda':
      return ['cuda'];
    case 'cpu':
      return ['cpu'];
    case 'webgpu':
      return ['webgpu'];
    default:
      throw new ValidationError(`unknown execution provider "${String(setting)}": use auto, cpu, cuda or webgpu`);
  }
}

/**
 * Whether onnxruntime-node's CUDA provider library is installed next to its
 * binding (its install script puts it there on GPU hosts; CPU installs skip it).
 */
export function cudaProviderInstalled(): boolean {
  try {
    const root = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
    return existsSync(join(root, 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so'));
  } catch {
    return false;
  }
}

export interface SessionOptions {
  modelDir: string;
  /** @defaultValue 'q8' */
  variant?: ModelVariant;
  /** @defaultValue 'auto' */
  executionProvider?: ExecutionProviderSetting;
  /** ORT intra-op threads. @defaultValue os.availableParallelism() */
  threads?: number;
  /** @defaultValue 'auto' */
  graphs?: GraphSource;
  /** Folder of prepared graphs (tools/model-prep). @defaultValue ./models/prepared */
  preparedRoot?: string;
  /** Also open the decode-loop graph (prepared graphs only). @defaultValue false */
  searchGraph?: boolean;
  /** Decoder layers (config.json), to keep each layer's KV cache on a WebGPU device. */
  decoderLayers: number;
  logger: Logger;
}

export interface WhisperSessions {
  readonly encoder: ort.InferenceSession;
  readonly decoder: ort.InferenceSession;
  /** The WhisperBeamSearch decode-loop graph, when asked for and prepared graphs are in use. */
  readonly search?: ort.InferenceSession;
  /** The prepared graphs in use, if any. */
  readonly prepared?: PreparedModel;
  /** The provider the sessions run on. */
  readonly executionProvider: ExecutionProvider;
  readonly variant: ModelVariant;
  /** Releases every session. Idempotent; runs all releases even when one fails. */
  release(): Promise<void>;
}

function sessionOptions(provider: ExecutionProvider, threads: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: provider === 'cuda' ? [{ name: 'cuda', deviceId: 0 }] : [provider],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  };
}

/**
 * Under WebGPU the decoder's KV cache (self- and cross-attention presents)
 * stays on the device (`gpu-buffer`), so the step loop feeds it back without
 * a round trip; logits always come to the CPU, where the logit rules run.
 */
function decoderOptions(provider: ExecutionProvider, threads: number, layers: number): ort.InferenceSession.SessionOptions {
  const options = sessionOptions(provider, threads);
  if (provider !== 'webgpu') return options;
  const onDevice: Record<string, 'gpu-buffer'> = {};
  for (let i = 0; i < layers; i++) {
    for (const kind of ['decoder', 'encoder']) for (const kv of ['key', 'value']) onDevice[`present.${i}.${kind}.${kv}`] = 'gpu-buffer';
  }
  return { ...options, preferredOutputLocation: onDevice };
}

/**
 * The search graph allocates a fresh KV cache per run, sized by the prompt and
 * the tokens decoded, so a CPU arena keeps every size it has seen: peak RSS
 * grew past 2 GB over a long recording with it, ~620 MB steady without, for
 * 5-8 % of decode speed.
 */
function searchOptions(provider: ExecutionProvider, threads: number): ort.InferenceSession.SessionOptions {
  const options = sessionOptions(provider, threads);
  return provider === 'cpu' ? { ...options, enableCpuMemArena: false } : options;
}

/** Which files to load: the prepared graphs when allowed and fresh, else the model folder's own. */
async function chooseGraphs(
  options: SessionOptions,
  variant: ModelVariant,
  log: Logger,
): Promise<{ encoder: string; decoder: string; prepared?: PreparedModel }> {
  const graphs = options.graphs ?? 'auto';
  if (!['auto', 'prepared', 'original'].includes(graphs)) {
    throw new ValidationError(`unknown graph source "${String(graphs)}": use auto, prepared or original`);
  }
  if (graphs !== 'original') {
    const root = resolve(options.preparedRoot ?? join('models', 'prepared'));
    const lookup = await findPreparedModel(root, options.modelDir, variant);
    if (lookup.found) {
      log.info({ preparedDir: lookup.found.dir, recipe: lookup.found.recipeVersion }, 'using prepared graphs');
      return { encoder: lookup.found.encoder, decoder: lookup.found.decoder, prepared: lookup.found };
    }
    if (graphs === 'prepared') {
      throw new NotFoundError(`no usable prepared graphs for ${options.modelDir} (${variant}): ${lookup.reason}; run npm run prepare-models`);
    }
    log.warn(
      { modelDir: options.modelDir, variant, reason: lookup.reason },
      'prepared graphs unavailable: using the original files, about twice as slow (run npm run prepare-models)',
    );
  }
  return modelFiles(options.modelDir, variant);
}

/**
 * Opens the encoder and merged decoder (and, when asked, the decode-loop
 * graph) on the first provider that works and logs the choice once
 * (`{ executionProvider, modelDir, variant }`). Under 'auto' a CUDA failure
 * is logged as a warning and CPU is used.
 * @throws ValidationError on an unknown variant, provider or graph source;
 * NotFoundError on missing files; UnavailableError when no provider could
 * open the model.
 */
export async function createWhisperSessions(options: SessionOptions): Promise<WhisperSessions> {
  const variant = options.variant ?? 'q8';
  const setting = options.executionProvider ?? 'auto';
  const candidates = executionProviderCandidates(setting);
  const threads = options.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new ValidationError(`threads must be a positive integer, got ${threads}`);
  const log = options.logger.child({ module: 'onnx-sessions' });
  const files = await chooseGraphs(options, variant, log);

  let lastError: Error | undefined;
  for (const provider of candidates) {
    const opened: ort.InferenceSession[] = [];
    try {
      const open = async (path: string, sessionOptionsFor: ort.InferenceSession.SessionOptions) => {
        const session = await ort.InferenceSession.create(path, sessionOptionsFor);
        opened.push(session);
        return session;
      };
      const encoder = await open(files.encoder, sessionOptions(provider, threads));
      const decoder = await open(files.decoder, decoderOptions(provider, threads, options.decoderLayers));
      const search = options.searchGraph && files.prepared ? await open(files.prepared.search, searchOptions(provider, threads)) : undefined;
      log.info(
        { executionProvider: provider, modelDir: options.modelDir, variant, threads, prepared: Boolean(files.prepared), searchGraph: Boolean(search) },
        'execution provider chosen',
      );
      return wrapSessions({ encoder, decoder, search, prepared: files.prepared }, provider, variant, log);
    } catch (thrown) {
      lastError = coerceError(thrown);
      await Promise.allSettled(opened.map((s) => s.release()));
      if (provider !== candidates.at(-1)) {
        log.warn({ err: lastError, executionProvider: provider, modelDir: options.modelDir }, 'execution provider unavailable, falling back');
      }
    }
  }
  throw new UnavailableError(
    `cannot open ${options.modelDir} (${variant}) with execution provider ${candidates.join(' or ')}: ${lastError?.message ?? 'unknown error'}`,
    { cause: lastError },
  );
}

function wrapSessions(
  sessions: { encoder: ort.InferenceSession; decoder: ort.InferenceSession; search?: ort.InferenceSession; prepared?: PreparedModel },
  executionProvider: ExecutionProvider,
  variant: ModelVariant,
  log: Logger,
): WhisperSessions {
  let released: Promise<void> | undefined;
  return {
    ...sessions,
    executionProvider,
    variant,
    release() {
      released ??= (async () => {
        const all = [sessions.encoder, sessions.decoder, sessions.search].filter((s): s is ort.InferenceSession => s !== undefined);
        const results = await Promise.allSettled(all.map((s) => s.release()));
        for (const result of results) {
          if (result.status === 'rejected') log.warn({ err: coerceError(result.reason) }, 'session release failed');
        }
      })();
      return released;
    },
  };
}

/**
 * Runs a session, fetching only `outputs`. On an ORT error logs every feed's
 * type and dims, then rethrows.
 * @throws ValidationError when a feed the graph needs is missing.
 */
export async function runSession(
  session: ort.InferenceSession,
  feeds: Record<string, ort.Tensor>,
  outputs: readonly string[],
  log: Logger,
): Promise<Record<string, ort.Tensor>> {
  const missing = session.inputNames.filter((name) => !(name in feeds));
  if (missing.length > 0) throw new ValidationError(`missing ONNX inputs: ${missing.join(', ')}`);
  const picked: Record<string, ort.Tensor> = {};
  for (const name of session.inputNames) picked[name] = feeds[name];
  try {
    return (await session.run(picked, outputs)) as Record<string, ort.Tensor>;
  } catch (thrown) {
    const inputs = Object.fromEntries(Object.entries(picked).map(([name, t]) => [name, { type: t.type, dims: t.dims }]));
    log.error({ err: coerceError(thrown), inputs, outputs }, 'ONNX Runtime run failed');
    throw thrown;
  }
}

/** The element type a session declares for an input or output, when the binding reports it. */
export function declaredType(session: ort.InferenceSession, name: string, kind: 'input' | 'output'): string | undefined {
  const metadata = kind === 'input' ? session.inputMetadata : session.outputMetadata;
  const entry = metadata?.find((m) => m.name === name);
  return entry && entry.isTensor ? entry.type : undefined;
}
