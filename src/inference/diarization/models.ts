/**
 * The two diarization networks, exported to ONNX by tools/diarization-export
 * and kept in the repository (models/diarization): pyannote segmentation-3.0
 * and CAM++ speaker embeddings. Loads their sessions (CPU: both are small) and
 * the frame timing the export recorded in the manifest.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { NotFoundError } from '../../core/errors.js';
import { PACKAGE_ROOT } from '../../core/package-files.js';

/** models/diarization of this package, from the sources and from dist/ alike. */
export const BUNDLED_DIARIZATION_DIR = join(PACKAGE_ROOT, 'models', 'diarization');

/** Frame timing of the segmentation model, in seconds. */
export interface SegmentationTiming {
  /** Window length the model was trained on (10 s). */
  chunkDuration: number;
  frameStart: number;
  frameDuration: number;
  frameStep: number;
}

interface Manifest {
  segmentation: SegmentationTiming & { file: string };
  embedding: { file: string; dim: number };
}

export interface DiarizationModels {
  segmentation: ort.InferenceSession;
  embedding: ort.InferenceSession;
  timing: SegmentationTiming;
  embeddingDim: number;
  release(): Promise<void>;
}

export interface LoadDiarizationModelsOptions {
  /** @defaultValue BUNDLED_DIARIZATION_DIR */
  modelDir?: string;
  /** ONNX Runtime threads per session. @defaultValue 1 */
  threads?: number;
}

/**
 * @throws NotFoundError when the folder lacks the manifest or a graph.
 */
export async function loadDiarizationModels(options: LoadDiarizationModelsOptions = {}): Promise<DiarizationModels> {
  const dir = options.modelDir ?? BUNDLED_DIARIZATION_DIR;
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  } catch (err) {
    throw new NotFoundError(`no diarization models in ${dir} (manifest.json unreadable)`, { cause: err });
  }
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    intraOpNumThreads: options.threads ?? 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  const open = async (file: string) => {
    try {
      return await ort.InferenceSession.create(join(dir, file), sessionOptions);
    } catch (err) {
      throw new NotFoundError(`diarization model ${join(dir, file)} could not be loaded`, { cause: err });
    }
  };
  const segmentation = await open(manifest.segmentation.file);
  let embedding: ort.InferenceSession;
  try {
    embedding = await open(manifest.embedding.file);
  } catch (err) {
    await segmentation.release();
    throw err;
  }
  const { chunkDuration, frameStart, frameDuration, frameStep } = manifest.segmentation;
  return {
    segmentation,
    embedding,
    timing: { chunkDuration, frameStart, frameDuration, frameStep },
    embeddingDim: manifest.embedding.dim,
    async release() {
      await Promise.all([segmentation.release(), embedding.release()]);
    },
  };
}
