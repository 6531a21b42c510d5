import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { EngineJob } from './engine-job.js';
import type { LoadedEngine } from './loaded-engine.js';
import type { Transcriber } from '../../src/inference/types.js';

const TRANSCRIBER_MODULE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/inference/transcriber.ts');

/** The part of `createTranscriber`'s options the benchmark sets. */
interface BenchTranscriberOptions {
  model: string;
  modelsDir: string;
  threads: number;
  executionProvider: 'cpu';
  batchSize?: number;
  graphs?: string;
  decodeLoop?: string;
  preparedDir?: string;
  logger: unknown;
}

type CreateTranscriber = (options: BenchTranscriberOptions) => Transcriber | Promise<Transcriber>;

/** Thrown when src/inference/transcriber.ts is missing or does not export createTranscriber. */
export class EngineUnavailableError extends Error {}

/**
 * This project's inference core through its public facade. The module path is
 * resolved at run time so the benchmark still runs (and says why the row is
 * skipped) while the engine does not exist yet.
 */
export async function loadOurEngine(job: EngineJob): Promise<LoadedEngine> {
  if (!existsSync(TRANSCRIBER_MODULE)) throw new EngineUnavailableError(`${path.relative(process.cwd(), TRANSCRIBER_MODULE)} does not exist`);
  let createTranscriber: CreateTranscriber | undefined;
  let createLogger: ((settings: { level?: string; stream?: 'stdout' | 'stderr'; name?: string }) => unknown) | undefined;
  try {
    const mod = (await import(pathToFileURL(TRANSCRIBER_MODULE).href)) as { createTranscriber?: CreateTranscriber };
    createTranscriber = mod.createTranscriber;
    const loggerMod = (await import(pathToFileURL(path.resolve(path.dirname(TRANSCRIBER_MODULE), '../core/logger.ts')).href)) as {
      createLogger?: typeof createLogger;
    };
    createLogger = loggerMod.createLogger;
  } catch (err) {
    throw new EngineUnavailableError(`importing ${path.basename(TRANSCRIBER_MODULE)} failed: ${(err as Error).message}`);
  }
  if (typeof createTranscriber !== 'function' || typeof createLogger !== 'function') {
    throw new EngineUnavailableError('src/inference/transcriber.ts does not export createTranscriber');
  }
  const logger = createLogger({ level: String(job.settings.logLevel ?? 'warn'), stream: 'stderr', name: 'bench' });
  const options: BenchTranscriberOptions = {
    // an absolute folder: the same files transformers.js loads
    model: job.modelDir,
    modelsDir: path.dirname(job.modelDir),
    threads: job.threads,
    // the same execution provider as the other rows
    executionProvider: 'cpu',
    logger,
  };
  if (job.settings.batchSize !== undefined) options.batchSize = Number(job.settings.batchSize);
  for (const key of ['graphs', 'decodeLoop', 'preparedDir'] as const) {
    if (job.settings[key] !== undefined) options[key] = String(job.settings[key]);
  }
  const transcriber = await createTranscriber(options);
  return {
    checkpoint:
      `${transcriber.model.name} ${transcriber.model.variant} on ${transcriber.model.executionProvider} (${path.relative(process.cwd(), transcriber.model.dir)}` +
      `${transcriber.model.prepared ? ', prepared graphs' : ''}, ${transcriber.model.decodeLoop === 'graph' ? 'single graph' : 'step loop'})`,
    info: {},
    async transcribe(file: string): Promise<string> {
      const texts: string[] = [];
      const wordTimestamps = String(job.settings.wordTimestamps) === 'true';
      for await (const chunk of transcriber.transcribe(file, { language: job.language, wordTimestamps })) {
        for (const segment of chunk.segments) texts.push(segment.text.trim());
      }
      return texts.filter((t) => t.length > 0).join(' ');
    },
    release: () => transcriber.release(),
  };
}
