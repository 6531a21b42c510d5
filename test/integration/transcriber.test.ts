import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadAudioError, NotFoundError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/logger.js';
import { AudioDecoder } from '../../src/inference/audio/decode.js';
import { createTranscriber } from '../../src/inference/transcriber.js';
import type { ChunkResult, Transcriber } from '../../src/inference/types.js';
import { AUDIO_DIR as AUDIO, JFK } from '../helpers/fixtures.js';


/** Log lines of the transcriber, with a hook to react to one (no sleeps). */
function captureLogs() {
  const lines: Record<string, unknown>[] = [];
  let onLine: ((line: Record<string, unknown>) => void) | undefined;
  const logger = createLogger(
    { level: 'debug' },
    {
      write(text: string) {
        const line = JSON.parse(text) as Record<string, unknown>;
        lines.push(line);
        onLine?.(line);
      },
    },
  );
  return { logger, lines, watch: (fn?: (line: Record<string, unknown>) => void) => (onLine = fn) };
}

/** CPU time (user + system, ms, 10-ms resolution) of this process's main thread, from /proc. */
function mainThreadCpuMs(): number {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  return ticks * 10; // CLK_TCK is 100 on Linux
}

async function collect(iterable: AsyncIterable<ChunkResult>): Promise<ChunkResult[]> {
  const out: ChunkResult[] = [];
  for await (const result of iterable) out.push(result);
  return out;
}

const words = (results: ChunkResult[]) =>
  results
    .flatMap((r) => r.segments.map((s) => s.text))
    .join(' ')
    .toLowerCase()
    .replace(/[^a-z' ]/g, ' ');

describe('Transcriber (whisper-tiny in a worker thread)', () => {
  const logs = captureLogs();
  let transcriber: Transcriber;
  /** jfk + 3 s silence + a LibriSpeech clip + 3 s silence + jfk: three chunks. */
  let joined: Float32Array;

  beforeAll(async () => {
    transcriber = await createTranscriber({ model: 'tiny', threads: 2, batchSize: 4, executionProvider: 'cpu', logger: logs.logger });
    const decoder = new AudioDecoder({ logger: logs.logger });
    const jfk = await decoder.decodeToSamples(JFK);
    const stew = await decoder.decodeToSamples(`${AUDIO}/librispeech/test-clean/1089-134686-0000.flac`);
    const gap = new Float32Array(3 * 16_000);
    joined = new Float32Array(jfk.length * 2 + stew.length + gap.length * 2);
    let at = 0;
    for (const part of [jfk, gap, stew, gap, jfk]) {
      joined.set(part, at);
      at += part.length;
    }
  }, 120_000);

  afterAll(async () => {
    await transcriber?.release();
  });

  it('reports the model it loaded', () => {
    expect(transcriber.model).toMatchObject({ name: 'whisper-tiny', variant: 'q8', executionProvider: 'cpu', multilingual: true });
  });

  it('transcribes a file with absolute segment times', async () => {
    const results = await collect(transcriber.transcribe(JFK, { language: 'en' }));
    expect(results.map((r) => r.chunk.index)).toEqual([0]);
    const text = words(results);
    for (const word of ['americans', 'country', 'ask']) expect(text).toContain(word);
    const segments = results[0].segments;
    expect(segments[0].start).toBeGreaterThanOrEqual(results[0].chunk.start);
    expect(segments[0].start).toBeLessThan(1.5);
    expect(segments.at(-1)!.end).toBeLessThanOrEqual(11);
    expect(results[0].language).toBe('en');
  });

  it('packs a joined clip into chunks of at most 30 s of speech, transcribes them in order, and agrees with a given plan', async () => {
    const plan = await transcriber.plan(joined);
    expect(plan.planner).toBe('vad');
    // jfk and the stew clip share a window (the 3-s pause left out); the second jfk does not fit.
    expect(plan.chunks).toHaveLength(2);
    expect(plan.chunks[0].pieces).toHaveLength(2);
    expect(plan.chunks[0].pieces![1].start).toBeGreaterThan(13);
    const results = await collect(transcriber.transcribe(joined, { plan, language: 'en' }));
    expect(results.map((r) => r.chunk)).toEqual(plan.chunks);
    expect(words([results[0]])).toContain('dinner');
    // The stew clip's segments sit at its absolute position (after ~14 s), not right after jfk's.
    const stew = results[0].segments.find((seg) => /dinner/i.test(seg.text))!;
    expect(stew.start).toBeGreaterThan(13.5);
    // Segments of the last chunk sit at its absolute position (after ~35.4 s).
    expect(results[1].segments[0].start).toBeGreaterThan(plan.chunks[1].start - 0.01);
    expect(results[1].segments[0].start).toBeGreaterThan(27);
  });

  it('skips chunks already saved, keeping indices and offsets', async () => {
    const plan = await transcriber.plan(joined);
    const results = await collect(transcriber.transcribe(joined, { plan, skipChunks: [1], language: 'en' }));
    expect(results.map((r) => r.chunk)).toEqual([plan.chunks[0]]);
    expect(words(results)).toContain('stew');
    const last = await collect(transcriber.transcribe(joined, { plan, skipChunks: [0], language: 'en' }));
    expect(last.map((r) => r.chunk.index)).toEqual([1]);
    expect(words(last)).toContain('country');
  });

  it('stops at a chunk boundary when aborted between chunks', async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    const run = (async () => {
      for await (const result of transcriber.transcribe(joined, { signal: controller.signal, language: 'en' })) {
        seen.push(result.chunk.index);
        controller.abort(new Error('job cancelled'));
      }
    })();
    await expect(run).rejects.toThrow('job cancelled');
    expect(seen).toEqual([0]);
  });

  it('aborts while a batch is decoding, and the thread serves the next request', async () => {
    const controller = new AbortController();
    // The plan is logged just before the first batch is posted (in the same
    // turn of the event loop); setImmediate aborts once it is in the thread.
    logs.watch((line) => {
      if (line.msg === 'chunk plan ready') setImmediate(() => controller.abort());
    });
    const transcribedBefore = logs.lines.filter((l) => l.msg === 'chunk transcribed').length;
    const run = collect(transcriber.transcribe(joined, { signal: controller.signal, language: 'en' }));
    await expect(run).rejects.toThrow(/abort/i);
    logs.watch(undefined);
    expect(logs.lines.filter((l) => l.msg === 'chunk transcribed').length).toBe(transcribedBefore);
    const after = await collect(transcriber.transcribe(JFK, { language: 'en' }));
    expect(words(after)).toContain('country');
  });

  it('rejects bad audio with BadAudioError and an aborted signal before starting', async () => {
    await expect(collect(transcriber.transcribe(`${AUDIO}/bad_inputs/not_audio.wav`))).rejects.toBeInstanceOf(BadAudioError);
    await expect(transcriber.plan(`${AUDIO}/bad_inputs/truncated_data.wav`)).rejects.toBeInstanceOf(BadAudioError);
    const controller = new AbortController();
    controller.abort(new Error('too late'));
    await expect(collect(transcriber.transcribe(JFK, { signal: controller.signal }))).rejects.toThrow('too late');
  });

  it('keeps the main event loop responsive during inference (batch 4): max delay < 100 ms', async () => {
    const plan = await transcriber.plan(`${AUDIO}/longform/dev_longform.flac`);
    const skipChunks = plan.chunks.slice(8).map((c) => c.index);
    const histogram = monitorEventLoopDelay({ resolution: 10 });
    // CPU time the main thread itself uses between 25-ms ticks: how long our
    // code blocks the loop, apart from time the OS gives to other processes.
    let longestCpuMs = 0;
    let lastCpu = mainThreadCpuMs();
    const probe = setInterval(() => {
      const now = mainThreadCpuMs();
      longestCpuMs = Math.max(longestCpuMs, now - lastCpu);
      lastCpu = now;
    }, 25);
    const cpuBefore = mainThreadCpuMs();
    const started = performance.now();
    const load = loadavg()[0];
    histogram.enable();
    const results = await collect(transcriber.transcribe(`${AUDIO}/longform/dev_longform.flac`, { plan, skipChunks, language: 'en' }));
    histogram.disable();
    clearInterval(probe);
    const cpuMs = mainThreadCpuMs() - cpuBefore;
    const wallMs = performance.now() - started;
    expect(results).toHaveLength(8);
    const maxMs = histogram.max / 1e6;
    const cores = availableParallelism();
    const loadDuring = Math.max(load, loadavg()[0]);
    console.log(
      `event-loop delay during inference: max ${maxMs.toFixed(1)} ms, p99 ${(histogram.percentile(99) / 1e6).toFixed(1)} ms; ` +
        `main-thread CPU ${cpuMs} ms of ${wallMs.toFixed(0)} ms wall, longest between ticks ${longestCpuMs} ms; ` +
        `load ${loadDuring.toFixed(1)} on ${cores} cores`,
    );
    // The main thread only orchestrates: little CPU in total (the /proc probe
    // included), none of it in long stretches.
    expect(cpuMs / wallMs).toBeLessThan(0.05);
    expect(longestCpuMs).toBeLessThan(100);
    // The delay also counts time the OS gives to other processes, so it says
    // something about this code only when the host is not oversubscribed.
    if (loadDuring <= cores) expect(maxMs).toBeLessThan(100);
  }, 300_000);

  it('relays the thread logs to the given logger', () => {
    expect(logs.lines.some((l) => l.thread === 'inference' && l.module === 'vad' && l.msg === 'silero vad loaded')).toBe(true);
  });

  it('fails fast on an unknown model', async () => {
    await expect(createTranscriber({ model: 'no-such-model', logger: logs.logger })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('releases idempotently and refuses work afterwards', async () => {
    const second = await createTranscriber({ model: 'tiny', threads: 1, executionProvider: 'cpu', logger: logs.logger });
    await Promise.all([second.release(), second.release()]);
    await second.release();
    expect(logs.lines.filter((l) => l.msg === 'onnx sessions released')).toHaveLength(1);
    await expect(second.plan(JFK)).rejects.toThrow(/released/);
  });
}, 120_000);
