/**
 * ONNX Runtime sessions of a Whisper model: file choice per variant, the
 * execution-provider choice, the one place that calls `session.run()`, and
 * release.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Logger } from '../../core/logger.js';
import { NotFoundError, UnavailableError, ValidationError, coerceError } from '../../core/errors.js';

export type ModelVariant = 'q8' | 'fp16' | 'fp32';
export type ExecutionProviderSetting = 'auto' | 'cpu' | 'cuda';
export type ExecutionProvider = 'cpu' | 'cuda';

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
    default:
      throw new ValidationError(`unknown execution provider "${String(setting)}": use auto, cpu or cuda`);
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
  logger: Logger;
}

export interface WhisperSessions {
  readonly encoder: ort.InferenceSession;
  readonly decoder: ort.InferenceSession;
  /** The provider the sessions run on. */
  readonly executionProvider: ExecutionProvider;
  readonly variant: ModelVariant;
  /** Releases both sessions. Idempotent; runs both releases even when one fails. */
  release(): Promise<void>;
}

function sessionOptions(provider: ExecutionProvider, threads: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: provider === 'cuda' ? [{ name: 'cuda', deviceId: 0 }] : ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  };
}

/**
 * Opens the encoder and merged decoder on the first provider that works and
 * logs the choice once (`{ executionProvider, modelDir, variant }`). Under
 * 'auto' a CUDA failure is logged as a warning and CPU is used.
 * @throws ValidationError on an unknown variant or provider; NotFoundError on
 * missing files; UnavailableError when no provider could open the model.
 */
export async function createWhisperSessions(options: SessionOptions): Promise<WhisperSessions> {
  const variant = options.variant ?? 'q8';
  const setting = options.executionProvider ?? 'auto';
  const candidates = executionProviderCandidates(setting);
  const files = modelFiles(options.modelDir, variant);
  const threads = options.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new ValidationError(`threads must be a positive integer, got ${threads}`);
  const log = options.logger.child({ module: 'onnx-sessions' });

  let lastError: Error | undefined;
  for (const provider of candidates) {
    let encoder: ort.InferenceSession | undefined;
    try {
      encoder = await ort.InferenceSession.create(files.encoder, sessionOptions(provider, threads));
      const decoder = await ort.InferenceSession.create(files.decoder, sessionOptions(provider, threads));
      log.info({ executionProvider: provider, modelDir: options.modelDir, variant, threads }, 'execution provider chosen');
      return wrapSessions(encoder, decoder, provider, variant, log);
    } catch (thrown) {
      lastError = coerceError(thrown);
      await encoder?.release().catch(() => undefined);
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
  encoder: ort.InferenceSession,
  decoder: ort.InferenceSession,
  executionProvider: ExecutionProvider,
  variant: ModelVariant,
  log: Logger,
): WhisperSessions {
  let released: Promise<void> | undefined;
  return {
    encoder,
    decoder,
    executionProvider,
    variant,
    release() {
      released ??= (async () => {
        const results = await Promise.allSettled([encoder.release(), decoder.release()]);
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
