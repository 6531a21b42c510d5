import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { execFileSync, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadAudioError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/logger.js';
import { AudioDecoder, sweepStaleTempDirs } from '../../src/inference/audio/decode.js';
import { bundledBinaryPaths, probe } from '../../src/inference/audio/probe.js';
import { sniffContainer, sniffFile } from '../../src/inference/audio/sniff.js';
import { AUDIO_DIR as AUDIO } from '../helpers/fixtures.js';


interface ManifestEntry {
  file: string;
  duration_s: number | null;
  kind: string;
  expect?: string;
}

async function manifest(): Promise<ManifestEntry[]> {
  const text = await readFile(join(AUDIO, 'manifest.jsonl'), 'utf8');
  return text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as ManifestEntry);
}

describe('audio decode and probe (real ffmpeg)', () => {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  const decoder = new AudioDecoder({ logger });
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'audio-decode-test-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('decodes every format variant to 16 kHz mono with the right duration (±0.1 s)', async () => {
    const entries = (await manifest()).filter((e) => e.file.startsWith('formats/'));
    expect(entries.length).toBeGreaterThanOrEqual(6);
    for (const entry of entries) {
      const samples = await decoder.decodeToSamples(join(AUDIO, entry.file));
      expect(Math.abs(samples.length / 16_000 - entry.duration_s!), entry.file).toBeLessThanOrEqual(0.1);
      let peak = 0;
      for (const s of samples) peak = Math.max(peak, Math.abs(s));
      expect(peak, entry.file).toBeGreaterThan(0.05);
      expect(peak, entry.file).toBeLessThanOrEqual(1.01);
    }
  });

  it('logs the ffmpeg binary and version once', () => {
    const versionLines = lines.filter((l) => l.includes('"ffmpeg binaries"'));
    expect(versionLines).toHaveLength(1);
    expect(versionLines[0]).toContain(bundledBinaryPaths().ffmpegPath);
    expect(versionLines[0]).toMatch(/ffmpeg version/);
  });

  it('decodes a long file to a temp file and reads slices without holding it all', async () => {
    const { pcm, probe: info } = await decoder.decode(join(AUDIO, 'longform/dev_longform.flac'));
    try {
      expect(info.formatName).toBe('flac');
      expect(pcm.sampleCount).toBe(11_403_736);
      expect(pcm.filePath).toBeDefined();
      const slice = await pcm.read(16_000 * 240, 16_000 * 250);
      expect(slice.length).toBe(160_000);
      expect(slice.every((s) => s === 0)).toBe(true); // inside the 20 s of digital silence
      const tail = await pcm.read(pcm.sampleCount - 10, pcm.sampleCount + 1000);
      expect(tail.length).toBe(10);
    } finally {
      await pcm.dispose();
    }
    await expect(readdir(pcm.filePath!.replace(/\/[^/]+$/, ''))).rejects.toThrow();
  });

  it('probes container facts', async () => {
    const info = await probe(join(AUDIO, 'formats/1089-134686-0000_44k1_stereo.wav'));
    expect(info).toMatchObject({ codec: 'pcm_s16le', formatName: 'wav', sampleRate: 44_100, channels: 2, sizeBytes: 1_840_780 });
    expect(info.durationSec).toBeCloseTo(10.435, 2);
    const m4a = await probe(join(AUDIO, 'formats/1089-134686-0000.m4a'));
    expect(m4a.codec).toBe('aac');
    expect(m4a.formatName).toContain('mp4');
  });

  it('raises BadAudioError with the reason for every bad input', async () => {
    const bad = (await manifest()).filter((e) => e.kind === 'bad_input');
    expect(bad).toHaveLength(4);
    const reasons: Record<string, RegExp> = {
      'bad_inputs/empty.wav': /empty file/,
      'bad_inputs/not_audio.wav': /not decodable audio: Invalid data/,
      'bad_inputs/corrupt_truncated_header.wav': /not decodable audio/,
      // Decided: a WAV whose header promises more data than the file holds is refused, not half-transcribed.
      'bad_inputs/truncated_data.wav': /truncated WAV file: the header declares 11\.00 s .* holds 0\.50 s/,
    };
    for (const entry of bad) {
      const err = await decoder.decode(join(AUDIO, entry.file)).catch((e: unknown) => e);
      expect(err, entry.file).toBeInstanceOf(BadAudioError);
      expect((err as Error).message, entry.file).toMatch(reasons[entry.file]);
      expect((err as Error).message).not.toContain(AUDIO); // no server paths in client-facing messages
    }
  });

  it('refuses concat and playlist files that reference other files', async () => {
    const target = join(dir, 'target.wav');
    await copyFile(join(AUDIO, 'whisper_cpp/jfk.wav'), target);
    const playlists = {
      'list.ffconcat': `ffconcat version 1.0\nfile '${target}'\n`,
      'list.txt': `file '${target}'\n`,
      'list.m3u8': `#EXTM3U\n#EXT-X-TARGETDURATION:11\n#EXTINF:11,\n${target}\n#EXT-X-ENDLIST\n`,
      'list.sdp': 'v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 5004 RTP/AVP 0\n',
      // a playlist disguised with an audio extension
      'playlist.wav': `ffconcat version 1.0\nfile '${target}'\n`,
    };
    for (const [name, body] of Object.entries(playlists)) {
      const path = join(dir, name);
      await writeFile(path, body);
      const err = await decoder.decode(path).catch((e: unknown) => e);
      expect(err, name).toBeInstanceOf(BadAudioError);
      expect(sniffContainer(Buffer.from(body)), name).toBeNull();
    }
    const err = await decoder.decode(join(dir, 'list.ffconcat')).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/container format not accepted/);
  });

  it('refuses URLs, protocol prefixes, directories, FIFOs and missing files', async () => {
    for (const path of ['http://127.0.0.1/a.wav', 'https://example.com/a.mp3', 'concat:a.wav|b.wav', 'pipe:0', 'file:/etc/passwd', 'subfile:x']) {
      const err = await decoder.decode(path).catch((e: unknown) => e);
      expect(err, path).toBeInstanceOf(BadAudioError);
      expect((err as Error).message, path).toMatch(/only local files/);
    }
    await expect(decoder.decode(dir)).rejects.toThrow(/not a regular file/);
    const fifo = join(dir, 'audio.fifo');
    execFileSync('mkfifo', [fifo]);
    await expect(decoder.decode(fifo)).rejects.toThrow(/not a regular file/);
    await expect(decoder.decode(join(dir, 'missing.wav'))).rejects.toThrow(/cannot read audio file .*ENOENT/);
  });

  it('kills ffmpeg after the time limit', async () => {
    const slow = new AudioDecoder({ logger, decodeTimeoutMs: 1 });
    const err = await slow.decode(join(AUDIO, 'longform/dev_longform.flac')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadAudioError);
    expect((err as Error).message).toMatch(/longer than 1 ms/);
  });

  it('stops ffmpeg when the signal aborts', async () => {
    const controller = new AbortController();
    const pending = decoder.decode(join(AUDIO, 'longform/dev_longform.flac'), controller.signal);
    controller.abort(new Error('stop now'));
    await expect(pending).rejects.toThrow('stop now');
  });

  it('puts decoded audio in a pid-tagged temp folder, and sweeps folders of dead processes', async () => {
    const tempDir = join(dir, 'sweep');
    await mkdir(tempDir);
    const local = new AudioDecoder({ logger, tempDir });
    const { pcm } = await local.decode(join(AUDIO, 'whisper_cpp/jfk.wav'));
    const live = (await readdir(tempDir))[0];
    expect(live).toMatch(new RegExp(`^meno-pcm-.+-${process.pid}-`));
    const child = spawn(process.execPath, ['-e', '0']);
    await once(child, 'exit');
    const dead = live.replace(`-${process.pid}-`, `-${child.pid}-`);
    const parent = live.replace(`-${process.pid}-`, `-${process.ppid}-`);
    await mkdir(join(tempDir, dead));
    await mkdir(join(tempDir, parent));
    await mkdir(join(tempDir, 'unrelated'));
    expect(await sweepStaleTempDirs(tempDir)).toBe(1);
    expect((await readdir(tempDir)).sort()).toEqual([live, parent, 'unrelated'].sort());
    await pcm.dispose();
    expect(await readdir(tempDir)).not.toContain(live);
  });

  it('uses the binaries it is given', async () => {
    const wrong = new AudioDecoder({ logger, ffmpegPath: '/nonexistent/ffmpeg', ffprobePath: bundledBinaryPaths().ffprobePath });
    await expect(wrong.decode(join(AUDIO, 'whisper_cpp/jfk.wav'))).rejects.toThrow(/cannot run ffmpeg at \/nonexistent\/ffmpeg/);
  });
});

describe('sniffContainer', () => {
  it('recognises every real test file and nothing in the bad inputs', async () => {
    const expected: Record<string, string> = {
      'formats/1089-134686-0000.m4a': 'mp4',
      'formats/1089-134686-0000.mp3': 'mp3',
      'formats/1089-134686-0000.ogg': 'ogg',
      'formats/1089-134686-0000.opus': 'ogg',
      'formats/1089-134686-0000_44k1_stereo.wav': 'wav',
      'formats/1089-134686-0000_8k_mono.wav': 'wav',
      'whisper_cpp/jfk.mp3': 'mp3',
      'whisper_cpp/jfk.wav': 'wav',
      'longform/dev_longform.flac': 'flac',
      'bad_inputs/not_audio.wav': 'null',
      'bad_inputs/empty.wav': 'null',
    };
    for (const [file, family] of Object.entries(expected)) {
      expect(String(await sniffFile(join(AUDIO, file))), file).toBe(family);
    }
  });

  it('recognises containers from their magic numbers', () => {
    const bytes = (...parts: (string | number[])[]) =>
      Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...p].map((c) => c.charCodeAt(0)) : p)));
    expect(sniffContainer(bytes('RIFF', [0, 0, 0, 0], 'WAVE'))).toBe('wav');
    expect(sniffContainer(bytes('RIFF', [0, 0, 0, 0], 'AVI '))).toBe('avi');
    expect(sniffContainer(bytes('FORM', [0, 0, 0, 0], 'AIFF'))).toBe('aiff');
    expect(sniffContainer(bytes('caff', [0, 1, 0, 0]))).toBe('caf');
    expect(sniffContainer(bytes([0, 0, 0, 0x20], 'ftypisom'))).toBe('mp4');
    expect(sniffContainer(bytes([0x1a, 0x45, 0xdf, 0xa3, 0x9f]))).toBe('matroska');
    expect(sniffContainer(bytes([0xff, 0xf1, 0x50, 0x80, 0x02, 0x1f, 0xfc]))).toBe('aac');
    expect(sniffContainer(bytes([0xff, 0xfb, 0x90, 0x64]))).toBe('mp3');
    expect(sniffContainer(bytes('ID3', [4, 0, 0, 0, 0, 0, 0]))).toBe('mp3');
    expect(
      sniffContainer(bytes([0x30, 0x26, 0xb2, 0x75, 0x8e, 0x66, 0xcf, 0x11, 0xa6, 0xd9, 0x00, 0xaa, 0x00, 0x62, 0xce, 0x6c])),
    ).toBe('asf');
    expect(sniffContainer(bytes('#EXTM3U\n'))).toBeNull();
    expect(sniffContainer(bytes([0x89], 'PNG'))).toBeNull();
    expect(sniffContainer(new Uint8Array())).toBeNull();
  });
});
