/**
 * What one long meeting costs the `meetings` / `meeting_changes` collections
 * (issue 10, item 4): a 4-hour plan (480 chunks of 30 s by default) goes
 * through the repository as a worker drives it — request, claim, recordPlan,
 * checkpointChunk per chunk, complete — against a real FerretDB, and the
 * driver's command events count round trips and bytes sent.
 *
 *   npx tsx bench/change-log.ts [--chunks 480] [--chunk-sec 30] [--json out.json] [--before before.json] [--no-write]
 *
 * `--json` keeps this run's figures; `--before` takes such a file from a run
 * of an older checkout (a separate git worktree) and writes the comparison to
 * bench/results/<date>-<commit>-change-log.md. MONGODB_URL uses a running
 * server instead of starting FerretDB.
 */
import { fileURLToPath } from 'node:url';
import { BSON, type CommandStartedEvent, type Document, MongoClient } from 'mongodb';
import { MeetingRepository } from '../src/core/meetings/meeting.repository.js';
import { startFerretDB } from '../test/helpers/servers.js';
import { beforeAfterTable, machineLine, runBeforeAfter } from './lib/before-after.js';
import { gitState } from './lib/machine.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Figures {
  commit: string;
  dirty: boolean;
  chunks: number;
  chunkSec: number;
  /** Repository calls made (request, claim, plan, checkpoints, complete). */
  transitions: number;
  /** Commands sent to the server, by command name. */
  commands: Record<string, number>;
  /** Documents inserted into meeting_changes, and their BSON bytes. */
  changeInserts: number;
  changeInsertBytes: number;
  /** BSON bytes of the change entry of the first and of the last checkpoint. */
  firstCheckpointChangeBytes: number;
  lastCheckpointChangeBytes: number;
  /** BSON bytes of the update specs (`u`) sent for the meetings collection. */
  updateSpecBytes: number;
  /** BSON bytes of the meeting document after each call: what a store that rewrites whole documents (FerretDB's SQLite rows) writes. */
  meetingDocBytes: number;
  finalMeetingDocBytes: number;
  /** meeting_changes documents of this meeting left after completion, and their BSON bytes. */
  changesLeft: number;
  changesLeftBytes: number;
  checkpointMs: { firstTenthMean: number; lastTenthMean: number; mean: number };
  totalMs: number;
}

async function run(url: string, chunks: number, chunkSec: number): Promise<Figures> {
  const dbName = `bench_changelog_${Date.now()}`;
  const client = new MongoClient(url, { monitorCommands: true });
  const observer = new MongoClient(url);
  await client.connect();
  await observer.connect();
  const commands: Record<string, number> = {};
  let changeInserts = 0;
  let changeInsertBytes = 0;
  const changeSizes: { action: unknown; bytes: number }[] = [];
  let updateSpecBytes = 0;
  client.on('commandStarted', (e: CommandStartedEvent) => {
    if (e.databaseName !== dbName) return;
    commands[e.commandName] = (commands[e.commandName] ?? 0) + 1;
    const cmd = e.command as Document;
    if (e.commandName === 'insert' && cmd.insert === 'meeting_changes') {
      for (const doc of cmd.documents as Document[]) {
        changeInserts++;
        changeInsertBytes += BSON.calculateObjectSize(doc);
        changeSizes.push({ action: doc.action, bytes: BSON.calculateObjectSize(doc) });
      }
    }
    if (e.commandName === 'update' && cmd.update === 'meetings') {
      for (const u of cmd.updates as Document[]) updateSpecBytes += BSON.calculateObjectSize(u.u as Document);
    }
  });

  const db = client.db(dbName);
  const observed = observer.db(dbName);
  const repo = new MeetingRepository(db);
  await repo.ensureIndexes();
  const meetingId = 'four-hours';
  const durationSec = chunks * chunkSec;
  await repo.create({
    id: meetingId,
    projectId: 'bench',
    audio: { path: '/data/four-hours.flac', source: 'upload', durationSec, sizeBytes: 1, sha256: 'x', codec: 'flac', formatName: 'flac' },
  });
  for (const key of Object.keys(commands)) delete commands[key];

  let meetingDocBytes = 0;
  let transitions = 0;
  const measureDoc = async (): Promise<number> => {
    const doc = await observed.collection('meetings').findOne({ _id: meetingId as never });
    return BSON.calculateObjectSize(doc!);
  };
  const step = async (call: () => Promise<unknown>): Promise<number> => {
    const started = performance.now();
    await call();
    const ms = performance.now() - started;
    transitions++;
    meetingDocBytes += await measureDoc();
    return ms;
  };

  const started = performance.now();
  await step(() => repo.recordTranscriptionRequest(meetingId, 'large', `transcription-${meetingId}`, { language: 'en' }));
  let epoch = 0;
  await step(async () => {
    epoch = (await repo.claim(meetingId))!.epoch;
  });
  const plan = {
    planner: 'vad' as const,
    durationSec,
    chunks: Array.from({ length: chunks }, (_, index) => ({ index, start: index * chunkSec + 0.37, end: (index + 1) * chunkSec - 0.21 })),
  };
  await step(() => repo.recordPlan(meetingId, epoch, plan));
  const checkpointMs: number[] = [];
  for (let i = 0; i < chunks; i++) {
    checkpointMs.push(await step(() => repo.checkpointChunk(meetingId, epoch, i, ((i + 1) / chunks) * 100, 'en')));
  }
  await step(() => repo.complete(meetingId, epoch));
  const totalMs = performance.now() - started;

  const final = await observed.collection('meetings').findOne({ _id: meetingId as never });
  if (final?.transcriptionStatus !== 'completed' || final.doneChunks.length !== chunks || final.transcriptionProgress !== 100) {
    throw new Error(`the meeting did not end completed with ${chunks} chunks: ${JSON.stringify({ status: final?.transcriptionStatus, done: final?.doneChunks.length })}`);
  }
  const left = await observed.collection('meeting_changes').find({ meetingId }).toArray();
  const tenth = Math.max(1, Math.floor(chunks / 10));
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

  await observed.dropDatabase();
  await observer.close();
  await client.close();
  return {
    ...gitState(REPO_ROOT),
    chunks,
    chunkSec,
    transitions,
    commands,
    changeInserts,
    changeInsertBytes,
    firstCheckpointChangeBytes: changeSizes.find((c) => c.action === 'checkpoint')?.bytes ?? 0,
    lastCheckpointChangeBytes: changeSizes.findLast((c) => c.action === 'checkpoint')?.bytes ?? 0,
    updateSpecBytes,
    meetingDocBytes,
    finalMeetingDocBytes: BSON.calculateObjectSize(final),
    changesLeft: left.length,
    changesLeftBytes: left.reduce((sum, d) => sum + BSON.calculateObjectSize(d), 0),
    checkpointMs: { firstTenthMean: mean(checkpointMs.slice(0, tenth)), lastTenthMean: mean(checkpointMs.slice(-tenth)), mean: mean(checkpointMs) },
    totalMs,
  };
}

const kb = (bytes: number): string => (bytes >= 10 * 1024 ** 2 ? `${(bytes / 1024 ** 2).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`);
const roundTrips = (f: Figures): number => Object.values(f.commands).reduce((a, b) => a + b, 0);

function render(after: Figures, before: Figures | undefined, loadAtStart: number): string {
  const { head, row } = beforeAfterTable(after, before);
  const date = new Date().toISOString().slice(0, 10);
  const hours = (after.chunks * after.chunkSec) / 3600;
  return [
    `# Meeting change log, one ${hours}-hour meeting — ${date} — ${after.commit}`,
    '',
    machineLine(loadAtStart),
    `- command: \`npx tsx bench/change-log.ts --chunks ${after.chunks} --chunk-sec ${after.chunkSec}\`, run once per checkout (the "before" column in a git worktree of the previous commit)`,
    '- server: FerretDB v1 (SQLite backend) started by test/helpers/servers.ts; one client, no concurrent writers',
    `- flow: recordTranscriptionRequest, claim, recordPlan (${after.chunks} chunks), checkpointChunk × ${after.chunks}, complete = ${after.transitions} repository calls`,
    '- bytes are BSON sizes (`BSON.calculateObjectSize`) of what the driver sent, from its command events; "meeting document after each call" sums the size of the whole meeting document after every call, which is what a store that rewrites whole documents writes (FerretDB replaces the SQLite row). Most of the final document is the stored plan (one entry per chunk), written once but carried by every later rewrite',
    '- what is not bounded here: the meeting document itself (the plan, and `doneChunks` at about 10 B per chunk) is rewritten whole by FerretDB at every change, so that column is about the same before and after',
    '',
    head,
    row('meeting_changes documents inserted', (f) => String(f.changeInserts)),
    row('meeting_changes bytes inserted', (f) => kb(f.changeInsertBytes)),
    row('change entry of the first / last checkpoint (bytes)', (f) => `${f.firstCheckpointChangeBytes} / ${f.lastCheckpointChangeBytes}`),
    row('meeting_changes documents left after completion', (f) => String(f.changesLeft)),
    row('meeting_changes bytes left after completion', (f) => kb(f.changesLeftBytes)),
    row('update specs sent for `meetings` (bytes)', (f) => kb(f.updateSpecBytes)),
    row('bytes sent (change inserts + update specs)', (f) => kb(f.changeInsertBytes + f.updateSpecBytes)),
    row('meeting document after each call (bytes, summed)', (f) => kb(f.meetingDocBytes)),
    row('final meeting document', (f) => kb(f.finalMeetingDocBytes)),
    row('round trips (all commands)', (f) => String(roundTrips(f))),
    row('round trips per call', (f) => (roundTrips(f) / f.transitions).toFixed(2)),
    row('commands by name', (f) => Object.entries(f.commands).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k} ${v}`).join(', ')),
    row('checkpoint ms, mean (first 10 % / last 10 %)', (f) => `${f.checkpointMs.mean.toFixed(2)} (${f.checkpointMs.firstTenthMean.toFixed(2)} / ${f.checkpointMs.lastTenthMean.toFixed(2)})`),
    row('whole meeting, ms', (f) => f.totalMs.toFixed(0)),
    '',
  ].join('\n');
}

const server = process.env.MONGODB_URL ? undefined : await startFerretDB();
try {
  await runBeforeAfter({
    name: 'change-log',
    repoRoot: REPO_ROOT,
    options: { chunks: { type: 'string', default: '480' }, 'chunk-sec': { type: 'string', default: '30' } },
    measure: (values) => run(process.env.MONGODB_URL ?? server!.url, Number(values.chunks), Number(values['chunk-sec'])),
    render,
  });
} finally {
  await server?.dispose();
}
