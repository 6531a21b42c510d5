/**
 * Run as a child process by test/integration/meeting.repository.test.ts: a
 * writer that dies between claim and apply. It checkpoints a chunk through
 * the real repository and SIGKILLs itself when the server acknowledges the
 * claim (the `meeting_changes` insert), before the update that would apply it
 * is sent.
 *
 *   node --import tsx test/helpers/claim-and-die.ts <mongoUrl> <db> <meetingId> <epoch> <chunk> <progress>
 */
import { type Document, MongoClient } from 'mongodb';
import { MeetingRepository } from '../../src/core/meetings/meeting.repository.js';

const [url, dbName, meetingId, epoch, chunk, progress] = process.argv.slice(2);
const client = new MongoClient(url, { monitorCommands: true });
const claims = new Set<number>();
client.on('commandStarted', (e) => {
  if (e.commandName === 'insert' && (e.command as Document).insert === 'meeting_changes') claims.add(e.requestId);
});
client.on('commandSucceeded', (e) => {
  if (claims.has(e.requestId)) process.kill(process.pid, 'SIGKILL');
});
await client.connect();
await new MeetingRepository(client.db(dbName)).checkpointChunk(meetingId, Number(epoch), Number(chunk), Number(progress));
console.error('the checkpoint returned: the process was not killed between claim and apply');
process.exit(1);
