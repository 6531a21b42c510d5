/**
 * Duration bombs and disk space (issue 10, item 11), with the real ffmpeg
 * and real filesystems: audio past MAX_AUDIO_DURATION_SEC is refused on its
 * declared duration before anything is written, and on its real duration as
 * soon as ffmpeg passes the limit; a temp folder without room refuses the
 * work with InsufficientStorageError (before decoding, or when ffmpeg hits a
 * full disk); nothing is left behind in any case. The small folders are
 * tmpfs mounts (the test machine runs as root).
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadAudioError, InsufficientStorageError } from '../../src/core/errors.js';
import { AudioDecoder } from '../../src/inference/audio/decode.js';
import { LONGFORM, silenceFlac, understatedMp3 } from '../helpers/fixtures.js';
import { silentLogger } from '../helpers/services.js';

const mounts: string[] = [];

/** A tmpfs of `sizeKb` KiB, unmounted in afterAll. */
async function smallFolder(sizeKb: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'meno-small-tmp-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k`, 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

let tempDir: string;
beforeAll(async () => {
  tempDir = await mkdtemp(join(tmpdir(), 'meno-limits-'));
});
afterAll(async () => {
  for (const dir of mounts) execFileSync('umount', ['-l', dir]);
  await Promise.all([...mounts, tempDir].map((d) => rm(d, { recursive: true, force: true })));
});

describe('MAX_AUDIO_DURATION_SEC while decoding', () => {
  it('refuses a file that declares more than the limit before decoding anything', async () => {
    const bomb = silenceFlac(3 * 3600);
    const decoder = new AudioDecoder({ logger: silentLogger(), tempDir, maxDurationSec: 3600 });
    const started = Date.now();
    const err = await decoder.decode(bomb).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadAudioError);
    expect((err as Error).message).toMatch(/declares 3\.0 h \(10800 s\); this server accepts at most 1\.0 h \(3600 s\)/);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await readdir(tempDir)).toEqual([]);
  });

  it('stops ffmpeg just past the limit when the real audio is longer than its header says', async () => {
    const decoder = new AudioDecoder({ logger: silentLogger(), tempDir, maxDurationSec: 60 });
    const understated = understatedMp3();
    expect((await decoder.probe(understated)).durationSec).toBeLessThan(60);
    const err = await decoder.decode(understated).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadAudioError);
    expect((err as Error).message).toMatch(/holds 61 s; this server accepts at most 60 s/);
    expect(await readdir(tempDir)).toEqual([]);
  });

  it('decodes audio within the limit in full', async () => {
    const decoder = new AudioDecoder({ logger: silentLogger(), tempDir, maxDurationSec: 120 });
    const { pcm } = await decoder.decode(understatedMp3());
    expect(pcm.durationSec).toBeGreaterThan(90);
    await pcm.dispose();
  });
});

describe('temp folder space', () => {
  it('refuses before decoding when the folder cannot take the declared audio and the reserve', async () => {
    const small = await smallFolder(4096);
    // 120 s of decoded audio is 7.7 MB: more than the 4 MiB folder holds.
    const decoder = new AudioDecoder({ logger: silentLogger(), tempDir: small, minFreeBytes: 0 });
    const err = await decoder.decode(LONGFORM).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InsufficientStorageError);
    // A fresh 4 MiB tmpfs reports 3 or 4 MiB free, depending on the kernel's block accounting.
    expect((err as Error).message).toMatch(/not enough free space for the decoded audio: \d+ MiB needed .*, [34] MiB free/);
    expect(await readdir(small)).toEqual([]);
    // The reserve counts too: a folder with room for the audio but not for the reserve is refused.
    const roomy = new AudioDecoder({ logger: silentLogger(), tempDir: small, minFreeBytes: 8 * 1024 * 1024 });
    await expect(roomy.decode(understatedMp3())).rejects.toBeInstanceOf(InsufficientStorageError);
  });

  it('turns a disk that fills up during decoding into InsufficientStorageError, not bad audio, and removes the partial file', async () => {
    // The header says 28 s (1.8 MB decoded), the audio is 91 s (5.8 MB): the 3 MiB folder fills up mid-way.
    const small = await smallFolder(3072);
    const decoder = new AudioDecoder({ logger: silentLogger(), tempDir: small, minFreeBytes: 0 });
    const err = await decoder.decode(understatedMp3()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InsufficientStorageError);
    expect(await readdir(small)).toEqual([]);
  });
});
