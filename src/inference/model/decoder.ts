/**
 * The merged Whisper decoder with its KV cache. The first step runs the
 * no-cache branch (use_cache_branch = false, empty past) over the whole prompt;
 * later steps feed one token per row with the cache. The cross-attention
 * (encoder) cache is computed once and stays fixed, so later steps fetch only
 * the logits and the self-attention presents.
 */
import * as ort from 'onnxruntime-node';
import type { Logger } from '../../core/logger.js';
import { ValidationError } from '../../core/errors.js';
import { declaredType, runSession } from './sessions.js';
import { float32Data, selectRows } from './tensors.js';

/** Logits of one decoder run, float32, laid out [rows, positions, vocab]. */
export interface DecoderLogits {
  data: Float32Array;
  rows: number;
  positions: number;
  vocab: number;
}

export interface DecoderRunner {
  /** Rows currently in the batch. */
  readonly rows: number;
  /**
   * Starts a batch: runs the prompt of every row (all of one length) against
   * `encoderStates` [rows, frames, dModel] and keeps the cache.
   */
  start(encoderStates: ort.Tensor, prompts: readonly (readonly number[])[]): Promise<DecoderLogits>;
  /**
   * Logits of a cache-less pass over `prompts`, without keeping (or copying
   * out) the KV cache; the running batch is left as it was.
   */
  logitsOnly(encoderStates: ort.Tensor, prompts: readonly (readonly number[])[]): Promise<DecoderLogits>;
  /**
   * Decoder layers whose cross-attention weights the graph outputs
   * (`cross_attentions.{layer}`, [rows, heads, positions, frames]); 0 when it outputs none.
   */
  readonly crossAttentionLayers: number;
  /**
   * A cache-less pass over one row's `tokens` that returns its logits and the
   * cross-attention weights of the given layers (the running batch is left as it was).
   */
  attend(encoderStates: ort.Tensor, tokens: readonly number[], layers: readonly number[]): Promise<{ logits: DecoderLogits; attentions: Map<number, CrossAttention> }>;
  /** Feeds one token per current row; returns logits [rows, 1, vocab]. */
  step(tokens: readonly number[]): Promise<DecoderLogits>;
  /** Keeps only the given current rows, in that order (batch shrink when rows finish). */
  keepRows(rows: readonly number[]): Promise<void>;
}

/** One layer's cross-attention weights, float32 [heads, positions, frames]. */
export interface CrossAttention {
  data: Float32Array;
  heads: number;
  positions: number;
  frames: number;
}

interface PastName {
  input: string;
  output: string;
  kind: 'decoder' | 'encoder';
}

/** A device-resident (WebGPU) tensor brought to the CPU; CPU tensors as they are. */
async function onCpu(tensor: ort.Tensor): Promise<ort.Tensor> {
  if (tensor.location === 'cpu' || tensor.location === 'cpu-pinned') return tensor;
  const data = await tensor.getData(true);
  return new ort.Tensor(tensor.type as 'float32', data as Float32Array, tensor.dims);
}

const PAST = /^past_key_values\.(\d+)\.(decoder|encoder)\.(key|value)$/;

/** Wraps a merged decoder session; inputs are discovered from its `inputNames`. */
export function createDecoderRunner(
  session: ort.InferenceSession,
  shape: { heads: number; headDim: number },
  logger: Logger,
): DecoderRunner {
  const log = logger.child({ module: 'whisper-decoder' });
  const pasts: PastName[] = [];
  let hasCacheBranch = false;
  for (const name of session.inputNames) {
    const match = PAST.exec(name);
    if (match) {
      pasts.push({ input: name, output: `present.${match[1]}.${match[2]}.${match[3]}`, kind: match[2] as PastName['kind'] });
    } else if (name === 'use_cache_branch') {
      hasCacheBranch = true;
    } else if (name !== 'input_ids' && name !== 'encoder_hidden_states') {
      throw new ValidationError(`decoder graph has an input this engine cannot feed: ${name}`);
    }
  }
  if (!session.inputNames.includes('input_ids')) throw new ValidationError('decoder graph has no input_ids input');
  const missingOutputs = pasts.map((p) => p.output).filter((name) => !session.outputNames.includes(name));
  if (missingOutputs.length > 0) throw new ValidationError(`decoder graph lacks outputs: ${missingOutputs.join(', ')}`);
  const firstFetch = ['logits', ...pasts.map((p) => p.output)];
  const stepFetch = ['logits', ...pasts.filter((p) => p.kind === 'decoder').map((p) => p.output)];
  let crossAttentionLayers = 0;
  while (session.outputNames.includes(`cross_attentions.${crossAttentionLayers}`)) crossAttentionLayers++;
  const pastType = (name: string): 'float32' | 'float16' => (declaredType(session, name, 'input') === 'float16' ? 'float16' : 'float32');

  let encoderStates: ort.Tensor | undefined;
  let cache = new Map<string, ort.Tensor>();
  let rows = 0;

  const ids = (tokens: readonly (readonly number[])[]): ort.Tensor => {
    const width = tokens[0]?.length ?? 0;
    const data = new BigInt64Array(tokens.length * width);
    tokens.forEach((row, r) => row.forEach((t, i) => (data[r * width + i] = BigInt(t))));
    return new ort.Tensor('int64', data, [tokens.length, width]);
  };

  const toLogits = (tensor: ort.Tensor): DecoderLogits => {
    const [r, positions, vocab] = tensor.dims;
    return { data: float32Data(tensor), rows: r, positions, vocab };
  };

  const firstPass = async (states: ort.Tensor, prompts: readonly (readonly number[])[], fetch: string[]) => {
    if (prompts.length === 0) throw new ValidationError('decoder batch is empty');
    if (prompts.some((p) => p.length !== prompts[0].length)) throw new ValidationError('decoder prompts must share one length');
    const feeds: Record<string, ort.Tensor> = { input_ids: ids(prompts), encoder_hidden_states: states };
    for (const past of pasts) {
      const type = pastType(past.input);
      const empty = type === 'float16' ? new Uint16Array(0) : new Float32Array(0);
      feeds[past.input] = new ort.Tensor(type, empty, [prompts.length, shape.heads, 0, shape.headDim]);
    }
    if (hasCacheBranch) feeds.use_cache_branch = new ort.Tensor('bool', new Uint8Array([0]), [1]);
    return runSession(session, feeds, fetch, log);
  };

  return {
    get rows() {
      return rows;
    },
    crossAttentionLayers,
    async attend(states, tokens, layers) {
      const missing = layers.filter((l) => !(l >= 0 && l < crossAttentionLayers));
      if (missing.length > 0) throw new ValidationError(`decoder graph outputs no cross-attention for layers ${missing.join(', ')}`);
      const names = [...new Set(layers)].map((l) => `cross_attentions.${l}`);
      const out = await firstPass(states, [tokens], ['logits', ...names]);
      const attentions = new Map<number, CrossAttention>();
      for (const layer of new Set(layers)) {
        const tensor = out[`cross_attentions.${layer}`];
        const [, heads, positions, frames] = tensor.dims;
        attentions.set(layer, { data: float32Data(tensor), heads, positions, frames });
      }
      return { logits: toLogits(out.logits), attentions };
    },
    async start(states, prompts) {
      const out = await firstPass(states, prompts, firstFetch);
      encoderStates = states;
      rows = prompts.length;
      cache = new Map(pasts.map((p) => [p.input, out[p.output]]));
      return toLogits(out.logits);
    },
    async logitsOnly(states, prompts) {
      const out = await firstPass(states, prompts, ['logits']);
      return toLogits(out.logits);
    },
    async step(tokens) {
      if (!encoderStates) throw new Error('decoder step before start');
      if (tokens.length !== rows) throw new RangeError(`expected ${rows} tokens, got ${tokens.length}`);
      const feeds: Record<string, ort.Tensor> = {
        input_ids: ids(tokens.map((t) => [t])),
        encoder_hidden_states: encoderStates,
      };
      for (const past of pasts) feeds[past.input] = cache.get(past.input)!;
      if (hasCacheBranch) feeds.use_cache_branch = new ort.Tensor('bool', new Uint8Array([1]), [1]);
      const out = await runSession(session, feeds, stepFetch, log);
      for (const past of pasts) if (past.kind === 'decoder') cache.set(past.input, out[past.output]);
      return toLogits(out.logits);
    },
    async keepRows(keep) {
      if (!encoderStates) throw new Error('decoder keepRows before start');
      if (keep.length === rows && keep.every((r, i) => r === i)) return;
      encoderStates = selectRows(encoderStates, keep);
      for (const [name, tensor] of cache) cache.set(name, selectRows(await onCpu(tensor), keep));
      rows = keep.length;
    },
  };
}
