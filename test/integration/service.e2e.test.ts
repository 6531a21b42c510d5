/**
 * The service end to end, as a client meets it: an API process, two worker
 * processes, redis-server, FerretDB and whisper-tiny. Three meetings go
 * pending → processing → completed, observed through the API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSrt, parseWebVtt } from '../../src/core/transcript-format.js';
import { JFK, LIBRI_CLIP, LONGFORM } from '../helpers/fixtures.js';
import { registerMeeting, startTranscription, storedSegments, waitForStatus } from '../helpers/meetings.js';
import { type Stack, startStack } from '../helpers/stack.js';

let stack: Stack;
const meetings = [
  { id: 'jfk', file: JFK, queue: 'regular' },
  { id: 'libri', file: LIBRI_CLIP, queue: 'regular' },
  // The threshold is lowered so the 11.9-min long-form file takes the large queue.
  { id: 'longform', file: LONGFORM, queue: 'large' },
];

beforeAll(async () => {
  stack = await startStack({ env: { LARGE_QUEUE_THRESHOLD_SEC: '300', INFERENCE_BATCH_SIZE: '4' } });
  await stack.startApi();
  await Promise.all([stack.startWorker('e2e-a'), stack.startWorker('e2e-b')]);
}, 90_000);
afterAll(async () => {
  await stack?.dispose();
});

describe('transcription end to end', () => {
  it('three meetings complete with monotonic progress, ordered unique segments, and agreeing formats', async () => {
    for (const m of meetings) await registerMeeting(stack, 'acme', m.id, m.file);
    const jobs = await Promise.all(meetings.map((m) => startTranscription(stack, 'acme', m.id)));
    for (const [i, m] of meetings.entries()) {
      expect(jobs[i]).toMatchObject({ jobId: `transcription-acme.${m.id}`, queue: m.queue });
    }
    // A second start of a live meeting returns the same job.
    const again = await startTranscription(stack, 'acme', 'longform');
    expect(again).toMatchObject({ jobId: 'transcription-acme.longform', queue: 'large', state: 'existing' });
    expect(await stack.large.getJobCounts('waiting', 'active', 'completed')).toSatisfy(
      (c: Record<string, number>) => c.waiting + c.active + c.completed === 1,
    );

    const results = await Promise.all(meetings.map((m) => waitForStatus(stack, 'acme', m.id, 'completed', 400_000)));
    for (const [i, m] of meetings.entries()) {
      const { final, seen } = results[i];
      const progress = seen.map((s) => s.progress);
      expect(progress, m.id).toEqual([...progress].sort((a, b) => a - b));
      expect(final.progress).toBe(100);
      expect(seen.some((s) => s.status === 'failed')).toBe(false);

      const { docs, duplicateKeys } = await storedSegments(stack, m.id);
      expect(duplicateKeys).toEqual([]);
      const starts = docs.map((d) => Number(d.start));
      expect(starts).toEqual([...starts].sort((a, b) => a - b));
      expect(final.segmentsSaved).toBe(docs.length);

      const json = (await (await stack.api(`/api/projects/acme/meetings/${m.id}/transcript?format=json`)).json()) as {
        partial: boolean;
        text: string;
        segments: { text: string; start: number; end: number }[];
      };
      const text = await (await stack.api(`/api/projects/acme/meetings/${m.id}/transcript?format=text`)).text();
      const srt = parseSrt(await (await stack.api(`/api/projects/acme/meetings/${m.id}/transcript?format=srt`)).text());
      const vttRes = await stack.api(`/api/projects/acme/meetings/${m.id}/transcript?format=vtt`);
      expect(vttRes.headers.get('content-type')).toMatch(/text\/vtt/);
      const vtt = parseWebVtt(await vttRes.text());
      expect(json.partial).toBe(false);
      const cues = json.segments.filter((s) => s.text.trim().length > 0);
      expect(srt).toHaveLength(cues.length);
      expect(vtt).toHaveLength(cues.length);
      for (const [k, cue] of cues.entries()) {
        expect(srt[k].start).toBeCloseTo(cue.start, 2);
        expect(vtt[k].end).toBeCloseTo(cue.end, 2);
        expect(srt[k].text.replace(/\s+/g, ' ')).toBe(vtt[k].text.replace(/\s+/g, ' '));
      }
      expect(text.replace(/\s+/g, ' ').trim()).toBe(json.text.replace(/\s+/g, ' ').trim());
    }
    const jfkText = (await (await stack.api('/api/projects/acme/meetings/jfk/transcript?format=text')).text()).toLowerCase();
    expect(jfkText).toContain('ask not what your country can do for you');
    // Another project cannot see these meetings.
    expect((await stack.api('/api/projects/other/meetings/jfk/transcription')).status).toBe(404);
  }, 600_000);
});
