/**
 * The Whisper encoder: a batch of log-mel windows → encoder hidden states.
 */
import type * as ort from 'onnxruntime-node';
import type { Logger } from '../../core/logger.js';
import { ValidationError } from '../../core/errors.js';
import { declaredType, runSession } from './sessions.js';
import { floatTensor } from './tensors.js';

export interface EncoderRunner {
  /**
   * Encodes `batch` windows of features laid out [batch, nMels, nFrames] in `features`.
   * @returns last_hidden_state [batch, frames/2, dModel] (float32 or float16 as the graph outputs).
   */
  encode(features: Float32Array, batch: number, nMels: number, nFrames: number): Promise<ort.Tensor>;
}

/** Wraps an encoder session; input and output names are read from the graph. */
export function createEncoderRunner(session: ort.InferenceSession, logger: Logger): EncoderRunner {
  const log = logger.child({ module: 'whisper-encoder' });
  const inputName = session.inputNames.find((n) => n === 'input_features') ?? session.inputNames[0];
  const outputName = session.outputNames.find((n) => n === 'last_hidden_state') ?? session.outputNames[0];
  if (session.inputNames.length !== 1) {
    throw new ValidationError(`encoder graph must take one input, has: ${session.inputNames.join(', ')}`);
  }
  const inputType = declaredType(session, inputName, 'input') ?? 'float32';
  return {
    async encode(features, batch, nMels, nFrames) {
      const input = floatTensor(inputType, features.subarray(0, batch * nMels * nFrames), [batch, nMels, nFrames]);
      const out = await runSession(session, { [inputName]: input }, [outputName], log);
      return out[outputName];
    },
  };
}
