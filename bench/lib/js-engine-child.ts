/**
 * Child process for one JavaScript engine row: `node --import tsx js-engine-child.ts JOB.json OUT.json`.
 * Runs alone so that its peak RSS is its own; progress goes to stderr.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { EngineJob, EngineResult } from './engine-job.js';
import type { LoadedEngine } from './loaded-engine.js';
import { EngineUnavailableError, loadOurEngine } from './our-engine.js';
import { loadTransformersEngine } from './transformers-engine.js';

function maxRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

async function main(): Promise<void> {
  const [jobPath, outPath] = process.argv.slice(2);
  if (!jobPath || !outPath) throw new Error('usage: js-engine-child.ts JOB.json OUT.json');
  const job = JSON.parse(readFileSync(jobPath, 'utf8')) as EngineJob;
  const result: EngineResult = { status: 'ok', checkpoint: '', loadSec: 0, maxRssMb: 0, items: [], info: {} };
  const write = (): void => writeFileSync(outPath, JSON.stringify({ ...result, maxRssMb: maxRssMb() }, null, 1));
  const tag = `[${job.label}]`;
  let engine: LoadedEngine;
  const loadStart = performance.now();
  try {
    engine = job.engine === 'ours' ? await loadOurEngine(job) : await loadTransformersEngine(job);
  } catch (err) {
    result.status = err instanceof EngineUnavailableError ? 'skipped' : 'failed';
    result.reason = `engine not available: ${(err as Error).message}`;
    console.error(`${tag} ${result.reason}`);
    write();
    return;
  }
  result.loadSec = (performance.now() - loadStart) / 1000;
  result.checkpoint = engine.checkpoint;
  result.info = { ...engine.info, node: process.version };
  console.error(`${tag} loaded in ${result.loadSec.toFixed(1)} s: ${engine.checkpoint}`);
  write();
  try {
    await engine.transcribe(job.warmupPath);
    let done = 0;
    let audio = 0;
    let wall = 0;
    for (const item of job.items) {
      const t0 = performance.now();
      const text = await engine.transcribe(item.path);
      const wallSec = (performance.now() - t0) / 1000;
      result.items.push({ id: item.id, text, wallSec });
      done++;
      audio += item.durationSec;
      wall += wallSec;
      if (item.durationSec > 60 || done % 10 === 0 || done === job.items.length) {
        console.error(`${tag} ${done}/${job.items.length} items, ${audio.toFixed(0)} s audio in ${wall.toFixed(1)} s (${(audio / wall).toFixed(2)}x)`);
      }
      write();
    }
  } catch (err) {
    result.status = 'failed';
    result.reason = (err as Error).stack ?? String(err);
    console.error(`${tag} failed: ${result.reason}`);
  } finally {
    write();
    await engine.release();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
