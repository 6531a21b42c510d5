import path from 'node:path';
import { AudioDecoder } from '../../src/inference/audio/decode.js';
import { createLogger } from '../../src/core/logger.js';
import type { EngineJob } from './engine-job.js';
import type { LoadedEngine } from './loaded-engine.js';
import { packageVersion } from './package-version.js';


/**
 * transformers.js's ASR pipeline on the same q8 model folder as our engine, offline,
 * with 30 s chunks and 5 s strides (its documented long-form mode) and the
 * ORT thread count passed through `session_options`.
 */
export async function loadTransformersEngine(job: EngineJob): Promise<LoadedEngine> {
  const { env, pipeline } = await import('@huggingface/transformers');
  // The product's decoder, so both engines see identical samples.
  const decoder = new AudioDecoder({ logger: createLogger({ level: 'warn', stream: 'stderr' }) });
  // modelDir is <root>/<org>/<name>: transformers.js resolves "<org>/<name>" under localModelPath
  const modelId = path.relative(path.dirname(path.dirname(job.modelDir)), job.modelDir).split(path.sep).join('/');
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = path.dirname(path.dirname(job.modelDir)) + path.sep;
  const asr = await pipeline('automatic-speech-recognition', modelId, {
    dtype: 'q8',
    device: 'cpu',
    local_files_only: true,
    session_options: { intraOpNumThreads: job.threads, interOpNumThreads: 1 },
  });
  const chunkLength = Number(job.settings.chunkLengthSec ?? 30);
  const strideLength = Number(job.settings.strideLengthSec ?? 5);
  const version = packageVersion('@huggingface/transformers');
  return {
    checkpoint: `${modelId} q8 (${path.relative(process.cwd(), job.modelDir)})`,
    info: { 'transformers.js': version },
    async transcribe(file: string): Promise<string> {
      const audio = await decoder.decodeToSamples(file);
      const out = await asr(audio, {
        language: job.language,
        task: 'transcribe',
        chunk_length_s: chunkLength,
        stride_length_s: strideLength,
      });
      return (Array.isArray(out) ? out.map((o) => o.text).join(' ') : out.text).trim();
    },
    release: () => asr.dispose(),
  };
}
