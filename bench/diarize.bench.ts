/**
 * Diarization benchmark on the dev long-form file, whose speaker turns are
 * known exactly (longform/dev_longform.segments.json: every clip's bounds;
 * a LibriSpeech clip's speaker is its id's first field, the espeak clips are
 * one synthetic voice). Reports DER (missed + false alarm + confusion, 0.25-s
 * collar) with the speaker count estimated and with the true count given,
 * time per audio hour on CPU and peak memory, and writes
 * bench/results/<date>-<commit>-diarization.md.
 *
 *   npx tsx bench/diarize.bench.ts [--thresholds 0.5,0.6,0.7] [--threads 2] [--no-write]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { AudioDecoder } from '../src/inference/audio/decode.js';
import { diarizationErrorRate, type LabelledSpan } from '../src/inference/diarization/der.js';
import { Diarizer } from '../src/inference/diarization/diarizer.js';
import { DEFAULT_CLUSTER_THRESHOLD } from '../src/inference/diarization/clustering.js';
import { machineLine } from './lib/before-after.js';
import { gitState } from './lib/machine.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const audioDir = join(repoRoot, '..', 'shared', 'audio');
const { values } = parseArgs({
  options: {
    thresholds: { type: 'string' },
    pauses: { type: 'string' },
    step: { type: 'string' },
    threads: { type: 'string', default: '2' },
    'no-write': { type: 'boolean', default: false },
  },
});

interface SegmentsFile {
  duration_s: number;
  segments: { kind: string; clip?: string; start_s: number; end_s: number }[];
}

function referenceTurns(file: SegmentsFile): LabelledSpan[] {
  return file.segments
    .filter((s) => s.kind === 'speech' && s.clip)
    .map((s) => ({ start: s.start_s, end: s.end_s, speaker: s.clip!.startsWith('espeak') ? 'espeak' : s.clip!.split('-')[0]! }));
}

const loadAtStart = (await import('node:os')).loadavg()[0];
const logger = pino({ level: 'warn' });
const segments = JSON.parse(readFileSync(join(audioDir, 'longform', 'dev_longform.segments.json'), 'utf8')) as SegmentsFile;
const reference = referenceTurns(segments);
const trueCount = new Set(reference.map((r) => r.speaker)).size;

const decoder = new AudioDecoder({ logger });
const { pcm } = await decoder.decode(join(audioDir, 'longform', 'dev_longform.flac'));
const rssBefore = process.memoryUsage().rss;
const loadStart = performance.now();
const diarizer = await Diarizer.load({ logger, threads: Number(values.threads) });
const loadMs = performance.now() - loadStart;
const start = performance.now();
const cpuStart = process.cpuUsage();
const embedded = await diarizer.embed(pcm, values.step ? { speech: { step: Number(values.step) } } : {});
const estimated = diarizer.cluster(embedded);
const totalMs = performance.now() - start;
const cpu = process.cpuUsage(cpuStart);
const cpuMs = (cpu.user + cpu.system) / 1000;
const oracle = diarizer.cluster(embedded, { numSpeakers: trueCount });
const peakRssMb = process.resourceUsage().maxRSS / 1024;

const score = (turns: LabelledSpan[]) => diarizationErrorRate(reference, turns);
const est = score(estimated.turns);
const orc = score(oracle.turns);
const perHour = (ms: number) => (ms / 1000) * (3600 / pcm.durationSec);
const pct = (x: number) => (100 * x).toFixed(2);

const sweep = (values.thresholds ?? '').split(',').filter(Boolean).map(Number);
const pauses = (values.pauses ?? '').split(',').filter(Boolean).map(Number);
const sweepRows = sweep.flatMap((threshold) =>
  (pauses.length ? pauses : [undefined]).map((turnPause) => {
    const r = diarizer.cluster(embedded, { threshold, turnPause });
    const d = score(r.turns);
    return `| ${threshold} | ${turnPause ?? 'default'} | ${r.speakers} | ${pct(d.der)} | ${pct(d.missed / d.speech)} | ${pct(d.falseAlarm / d.speech)} | ${pct(d.confusion / d.speech)} |`;
  }),
);
await diarizer.release();
await pcm.dispose();

const { commit, dirty } = gitState(repoRoot);
const date = new Date().toISOString().slice(0, 10);
const lines = [
  `# Diarization on the dev long-form file — ${date} — ${commit}${dirty ? ' (uncommitted changes)' : ''}`,
  '',
  `- command: \`npx tsx bench/diarize.bench.ts --threads ${values.threads}\``,
  machineLine(loadAtStart),
  `- audio: longform/dev_longform.flac, ${pcm.durationSec.toFixed(1)} s, ${segments.segments.filter((s) => s.kind === 'speech').length} speech clips of ${trueCount} speakers (10 LibriSpeech readers + one espeak voice; the issue's "20 speakers" does not match the file)`,
  `- pipeline: pyannote segmentation-3.0 on 10-s windows every 5 s (speech = 1 − P(silence), Hamming-weighted average, 0.5 threshold) → CAM++ embeddings of 1.5-s windows every 0.75 s in speech → average-linkage clustering on cosine distance (threshold ${DEFAULT_CLUSTER_THRESHOLD}, clusters under 3 windows folded into the nearest) → turns (pauses up to 0.5 s inside one speaker's talk kept in the turn)`,
  `- ONNX Runtime (onnxruntime-node) on CPU, ${values.threads} intra-op threads per session; decoding the file is not counted`,
  `- DER: missed + false alarm + confusion over scored reference speech, 0.25-s collar around every reference boundary, optimal one-to-one speaker mapping, 10-ms grid (src/inference/diarization/der.ts)`,
  '',
  '| run | speakers | DER % | missed % | false alarm % | confusion % |',
  '|---|---|---|---|---|---|',
  `| count estimated | ${estimated.speakers} (true ${trueCount}) | ${pct(est.der)} | ${pct(est.missed / est.speech)} | ${pct(est.falseAlarm / est.speech)} | ${pct(est.confusion / est.speech)} |`,
  `| true count given (numSpeakers ${trueCount}) | ${oracle.speakers} | ${pct(orc.der)} | ${pct(orc.missed / orc.speech)} | ${pct(orc.falseAlarm / orc.speech)} | ${pct(orc.confusion / orc.speech)} |`,
  '',
  '| cost | value |',
  '|---|---|',
  `| CPU time, whole pipeline (all threads) | ${(cpuMs / 1000).toFixed(1)} s: ${perHour(cpuMs).toFixed(0)} CPU-s per audio hour |`,
  `| wall time, whole pipeline | ${(totalMs / 1000).toFixed(1)} s (${(pcm.durationSec / (totalMs / 1000)).toFixed(1)}× real time) |`,
  `| wall time per audio hour | ${perHour(totalMs).toFixed(0)} s (speech detection ${perHour(estimated.timings.speechMs).toFixed(0)} s, embeddings ${perHour(estimated.timings.embeddingMs).toFixed(0)} s, clustering ${perHour(estimated.timings.clusteringMs).toFixed(1)} s) |`,
  `| embedding windows | ${estimated.windows} |`,
  `| model load | ${(loadMs / 1000).toFixed(1)} s |`,
  `| peak RSS of the process | ${peakRssMb.toFixed(0)} MB (RSS before loading the models ${(rssBefore / 2 ** 20).toFixed(0)} MB) |`,
  '',
  ...(sweepRows.length
    ? ['Threshold sweep (same embeddings):', '', '| threshold | turn pause s | speakers | DER % | missed % | false alarm % | confusion % |', '|---|---|---|---|---|---|---|', ...sweepRows, '']
    : []),
];
const report = lines.join('\n');
console.log(report);
if (!values['no-write']) {
  mkdirSync(join(repoRoot, 'bench', 'results'), { recursive: true });
  const file = join(repoRoot, 'bench', 'results', `${date}-${commit}-diarization.md`);
  writeFileSync(file, `${report}\n`);
  console.log(`wrote ${file}`);
}
