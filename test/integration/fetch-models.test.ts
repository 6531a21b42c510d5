import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError, UnavailableError, ValidationError } from '../../src/core/errors.js';
import { runFetchModelsCli } from '../../src/tools/model-fetch/cli.js';
import { IntegrityError } from '../../src/tools/model-fetch/download.js';
import { fetchModel } from '../../src/tools/model-fetch/fetch-model.js';
import { createProgress } from '../../src/tools/model-fetch/progress.js';
import { findPreparedModel, preparedModelDir } from '../../src/inference/model/prepared.js';
import { findPrepPython } from '../../src/tools/model-prep/prepare-model.js';
import { packagedModelDir } from '../helpers/models.js';
import { freePort } from '../helpers/ports.js';

const REPO = 'onnx-community/whisper-base';

interface FakeFile {
  path: string;
  content: Buffer;
  lfs: boolean;
}

/** A stand-in for the Hugging Face hub: tree API (paged), resolve URLs with a redirect, Range support. */
class FakeHub {
  readonly files = new Map<string, FakeFile>();
  readonly requests: Array<{ path: string; range?: string }> = [];
  /** Paths whose next download sends half the bytes, then drops the connection. */
  readonly cutOnce = new Set<string>();
  /** Paths served with one byte flipped. */
  readonly corrupt = new Set<string>();
  /** Answer Range requests with the whole file (200), as servers without range support do. */
  ignoreRange = false;
  private server?: Server;
  baseUrl = '';

  add(path: string, content: Buffer, lfs: boolean): void {
    this.files.set(path, { path, content, lfs });
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.baseUrl);
    const treePrefix = `/api/models/${REPO}/tree/main`;
    if (url.pathname === treePrefix) return this.tree(url, res);
    if (url.pathname.startsWith('/api/models/')) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Repository not found"}');
    const resolvePrefix = `/${REPO}/resolve/main/`;
    if (url.pathname.startsWith(resolvePrefix)) {
      // The real hub redirects LFS files to a CDN host.
      const path = decodeURIComponent(url.pathname.slice(resolvePrefix.length));
      return void res.writeHead(302, { location: `/cdn/${encodeURIComponent(path)}` }).end();
    }
    if (url.pathname.startsWith('/cdn/')) return this.download(decodeURIComponent(url.pathname.slice(5)), req, res);
    res.writeHead(404).end();
  }

  private tree(url: URL, res: ServerResponse): void {
    const entries: unknown[] = [{ type: 'directory', oid: 'd'.repeat(40), size: 0, path: 'onnx' }];
    for (const f of this.files.values()) {
      const gitOid = createHash('sha1').update(`blob ${f.content.length}\0`).update(f.content).digest('hex');
      entries.push(
        f.lfs
          ? { type: 'file', oid: gitOid, size: f.content.length, path: f.path, lfs: { oid: sha256(f.content), size: f.content.length, pointerSize: 134 } }
          : { type: 'file', oid: gitOid, size: f.content.length, path: f.path },
      );
    }
    // Two pages, linked the way the hub does it.
    const half = Math.ceil(entries.length / 2);
    const second = url.searchParams.get('cursor') === 'page2';
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (!second) headers.link = `<${this.baseUrl}/api/models/${REPO}/tree/main?recursive=true&cursor=page2>; rel="next"`;
    res.writeHead(200, headers).end(JSON.stringify(second ? entries.slice(half) : entries.slice(0, half)));
  }

  private download(path: string, req: IncomingMessage, res: ServerResponse): void {
    const file = this.files.get(path);
    this.requests.push({ path, range: req.headers.range });
    if (!file) return void res.writeHead(404).end();
    const body = Buffer.from(file.content);
    if (this.corrupt.has(path)) body[body.length - 1] ^= 0xff;
    const match = this.ignoreRange ? null : /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = match ? Number(match[1]) : 0;
    if (start >= body.length && match) return void res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
    const slice = body.subarray(start);
    const headers: Record<string, string | number> = { 'content-length': slice.length, 'accept-ranges': 'bytes' };
    if (match) headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
    res.writeHead(match ? 206 : 200, headers);
    if (this.cutOnce.delete(path)) {
      res.write(slice.subarray(0, Math.floor(slice.length / 2)), () => res.destroy());
      return;
    }
    res.end(slice);
  }
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value, null, 2));
}

function collector(): { write(chunk: string): boolean; text(): string } {
  let text = '';
  return {
    write(chunk: string) {
      text += chunk;
      return true;
    },
    text: () => text,
  };
}

const hub = new FakeHub();
let work: string;
let dest: string;

beforeAll(async () => {
  hub.add('config.json', json({ model_type: 'whisper', num_mel_bins: 80 }), false);
  hub.add('generation_config.json', json({ decoder_start_token_id: 50258 }), false);
  hub.add('preprocessor_config.json', json({ feature_size: 80, sampling_rate: 16000 }), false);
  hub.add('tokenizer.json', json({ model: { vocab: { a: 1 } } }), false);
  hub.add('tokenizer_config.json', json({ model_max_length: 448 }), false);
  hub.add('README.md', Buffer.from('# not needed\n'), false);
  hub.add('onnx/encoder_model_quantized.onnx', randomBytes(300_000), true);
  hub.add('onnx/decoder_model_merged_quantized.onnx', randomBytes(200_000), true);
  hub.add('onnx/decoder_model_quantized.onnx', randomBytes(1000), true);
  hub.add('onnx/encoder_model.onnx', randomBytes(2000), true);
  hub.add('onnx/encoder_model.onnx_data', randomBytes(150_000), true);
  hub.add('onnx/decoder_model_merged.onnx', randomBytes(3000), true);
  hub.add('onnx/decoder_model_merged.onnx_data', randomBytes(120_000), true);
  await hub.start();
  work = await mkdtemp(join(tmpdir(), 'fetch-models-'));
});

afterAll(async () => {
  await hub.stop();
  await rm(work, { recursive: true, force: true });
});

beforeEach(async () => {
  hub.requests.length = 0;
  dest = await mkdtemp(join(work, 'dest-'));
});

function options(extra: { variant?: 'q8' | 'fp16' | 'fp32' } = {}) {
  const log = collector();
  return {
    log,
    opts: { model: 'base', dest, baseUrl: hub.baseUrl, progress: createProgress(log, { tty: false }), retryDelayMs: 0, ...extra },
  };
}

async function expectSameAsHub(folder: string, paths: string[]): Promise<void> {
  for (const path of paths) {
    const got = await readFile(join(folder, path));
    expect(sha256(got), path).toBe(sha256(hub.files.get(path)!.content));
  }
}

describe('fetchModel against a local fake hub', () => {
  it('fetches the q8 variant: JSON configs plus the quantized encoder and merged decoder, verified, no .part left', async () => {
    const { opts, log } = options();
    const result = await fetchModel(opts);

    const folder = join(dest, 'whisper-base');
    expect(result.folder).toBe(folder);
    const expected = [
      'config.json',
      'generation_config.json',
      'preprocessor_config.json',
      'tokenizer.json',
      'tokenizer_config.json',
      'onnx/encoder_model_quantized.onnx',
      'onnx/decoder_model_merged_quantized.onnx',
    ];
    expect(result.files.map((f) => f.path).sort()).toEqual([...expected].sort());
    expect(result.files.every((f) => f.outcome === 'downloaded')).toBe(true);
    await expectSameAsHub(folder, expected);
    expect((await readdir(join(folder, 'onnx'))).sort()).toEqual(['decoder_model_merged_quantized.onnx', 'encoder_model_quantized.onnx']);
    expect(existsSync(join(folder, 'README.md'))).toBe(false);
    expect(log.text()).toContain('onnx/encoder_model_quantized.onnx: ok (verified sha256)');
    expect(log.text()).toContain('config.json: ok (verified git blob id)');

    // A second run finds everything in place and downloads nothing.
    hub.requests.length = 0;
    const again = await fetchModel(options().opts);
    expect(again.files.every((f) => f.outcome === 'present')).toBe(true);
    expect(hub.requests).toEqual([]);
  });

  it('fp32 takes the plain graphs and their .onnx_data external-data files', async () => {
    const { opts } = options({ variant: 'fp32' });
    const result = await fetchModel(opts);
    const onnx = result.files.map((f) => f.path).filter((p) => p.startsWith('onnx/')).sort();
    expect(onnx).toEqual([
      'onnx/decoder_model_merged.onnx',
      'onnx/decoder_model_merged.onnx_data',
      'onnx/encoder_model.onnx',
      'onnx/encoder_model.onnx_data',
    ]);
    await expectSameAsHub(result.folder, onnx);
  });

  it('resumes with an HTTP Range request when the server drops the connection midway', async () => {
    const path = 'onnx/encoder_model_quantized.onnx';
    hub.cutOnce.add(path);
    const { opts, log } = options();
    const result = await fetchModel(opts);

    const attempts = hub.requests.filter((r) => r.path === path);
    expect(attempts).toHaveLength(2);
    expect(attempts[0].range).toBeUndefined();
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(attempts[1].range ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThan(hub.files.get(path)!.content.length);
    expect(result.files.find((f) => f.path === path)?.outcome).toBe('resumed');
    expect(log.text()).toMatch(/transfer interrupted/);
    await expectSameAsHub(result.folder, [path]);
    expect(existsSync(join(result.folder, `${path}.part`))).toBe(false);
  });

  it('continues a .part left by an earlier run from where it ends', async () => {
    const path = 'onnx/decoder_model_merged_quantized.onnx';
    const content = hub.files.get(path)!.content;
    await mkdir(join(dest, 'whisper-base', 'onnx'), { recursive: true });
    await writeFile(join(dest, 'whisper-base', `${path}.part`), content.subarray(0, 12_345));

    const { opts, log } = options();
    const result = await fetchModel(opts);
    expect(hub.requests.filter((r) => r.path === path)).toEqual([{ path, range: 'bytes=12345-' }]);
    expect(log.text()).toContain(`${path}: resuming at`);
    await expectSameAsHub(result.folder, [path]);
  });

  it('starts over when the server ignores the Range header, and when the .part is longer than the file', async () => {
    const path = 'onnx/decoder_model_merged_quantized.onnx';
    const content = hub.files.get(path)!.content;
    const folder = join(dest, 'whisper-base');
    await mkdir(join(folder, 'onnx'), { recursive: true });
    await writeFile(join(folder, `${path}.part`), content.subarray(0, 5000));
    // A stale, longer .part of the encoder: it cannot be a prefix of the file.
    const encoder = 'onnx/encoder_model_quantized.onnx';
    await writeFile(join(folder, `${encoder}.part`), Buffer.alloc(hub.files.get(encoder)!.content.length + 10));
    hub.ignoreRange = true;
    try {
      const result = await fetchModel(options().opts);
      await expectSameAsHub(result.folder, [path, encoder]);
    } finally {
      hub.ignoreRange = false;
    }
    expect(hub.requests.filter((r) => r.path === path)).toEqual([{ path, range: 'bytes=5000-' }]);
    expect(hub.requests.filter((r) => r.path === encoder)).toEqual([{ path: encoder, range: undefined }]);
  });

  it('refuses a file whose sha256 does not match the listing and does not promote its .part', async () => {
    const path = 'onnx/decoder_model_merged_quantized.onnx';
    hub.corrupt.add(path);
    try {
      const { opts } = options();
      const failure = fetchModel(opts);
      await expect(failure).rejects.toBeInstanceOf(IntegrityError);
      await expect(failure).rejects.toThrow(/onnx\/decoder_model_merged_quantized\.onnx failed verification \(sha256 [0-9a-f]{64}, expected [0-9a-f]{64}\)/);
    } finally {
      hub.corrupt.delete(path);
    }
    const folder = join(dest, 'whisper-base');
    expect(existsSync(join(folder, path))).toBe(false);
    expect(existsSync(join(folder, `${path}.part`))).toBe(false);
  });

  it('names the variants a repository has when the requested one is missing', async () => {
    const { opts } = options({ variant: 'fp16' });
    const failure = fetchModel(opts);
    await expect(failure).rejects.toBeInstanceOf(ValidationError);
    await expect(failure).rejects.toThrow('the repository has no fp16 export (missing onnx/encoder_model_fp16.onnx, onnx/decoder_model_merged_fp16.onnx); variants present: q8, fp32');
  });

  it('reports an unknown repository as not found', async () => {
    const failure = fetchModel({ ...options().opts, model: undefined, repo: 'onnx-community/whisper-nope' });
    await expect(failure).rejects.toBeInstanceOf(NotFoundError);
    await expect(failure).rejects.toThrow(/repository onnx-community\/whisper-nope \(revision main\) not found/);
  });

  it('rejects an unknown model name, listing the known ones', async () => {
    await expect(fetchModel({ ...options().opts, model: 'huge' })).rejects.toThrow(
      "unknown model 'huge': choose one of tiny, tiny.en, base, base.en, small, small.en, medium, medium.en, large-v3, large-v3-turbo (or pass --repo owner/name)",
    );
    expect(hub.requests).toEqual([]);
  });

  it('says "are you offline?" when the hub cannot be reached', async () => {
    const port = await freePort();
    const failure = fetchModel({ ...options().opts, baseUrl: `http://127.0.0.1:${port}` });
    await expect(failure).rejects.toBeInstanceOf(UnavailableError);
    await expect(failure).rejects.toThrow(`cannot reach 127.0.0.1:${port}: are you offline? (ECONNREFUSED)`);
  });
});

describe('progress output', () => {
  it('redraws one bar in place on a terminal and ends with a plain line', () => {
    const out = collector();
    let clock = 0;
    const progress = createProgress(out, { tty: true, now: () => clock, redrawMs: 100 });
    progress.start('onnx/encoder_model_fp16.onnx', 4 * 1024 * 1024, 0);
    clock = 1000;
    progress.advance(2 * 1024 * 1024);
    clock = 1050; // within redrawMs: no redraw
    progress.advance(1024 * 1024);
    clock = 2000;
    progress.advance(1024 * 1024);
    progress.finish('onnx/encoder_model_fp16.onnx', 'ok');
    const frames = out.text().split('\r\x1b[K').filter(Boolean);
    expect(frames[0]).toMatch(/^ {2}0% \[ {24}\] 0 B\/4\.0 MiB/);
    expect(frames[1]).toMatch(/^ 50% \[#{12} {12}\] 2\.0 MiB\/4\.0 MiB 2\.0 MiB\/s onnx\/encoder_model_fp16\.onnx$/);
    expect(frames[2]).toMatch(/^100% \[#{24}\] 4\.0 MiB\/4\.0 MiB 2\.0 MiB\/s/);
    expect(frames.at(-1)).toBe('onnx/encoder_model_fp16.onnx: ok\n');
    expect(frames).toHaveLength(4);
  });
});

describe('fetch-models CLI', () => {
  it('exits 2 with a one-line message for an unknown model and 0 after a fetch', async () => {
    const stdout = collector();
    const stderr = collector();
    expect(await runFetchModelsCli(['--model', 'huge'], { stdout, stderr, env: {} })).toBe(2);
    expect(stderr.text()).toMatch(/^fetch-models: unknown model 'huge': choose one of tiny, /);
    expect(stderr.text().trim().split('\n')).toHaveLength(1);

    const ok = collector();
    const code = await runFetchModelsCli(['--model', 'base', '--dest', dest, '--base-url', hub.baseUrl], { stdout: ok, stderr: collector(), env: {} });
    expect(code).toBe(0);
    expect(ok.text()).toContain(`${join(dest, 'whisper-base')} ready: ${REPO} q8, 7 files (7 fetched)`);
  });

  it('--prepare builds the prepared graphs of what it fetched, and says so when the files are no model', async () => {
    // A hub serving the real tiny q8 export (as whisper-base): fetch, then the real preparation.
    const real = new FakeHub();
    const tiny = packagedModelDir('tiny');
    for (const file of ['config.json', 'generation_config.json', 'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json']) {
      real.add(file, await readFile(join(tiny, file)), false);
    }
    for (const file of ['onnx/encoder_model_quantized.onnx', 'onnx/decoder_model_merged_quantized.onnx']) real.add(file, await readFile(join(tiny, file)), true);
    await real.start();
    try {
      const out = collector();
      const err = collector();
      const env = { MODEL_PREP_PYTHON: findPrepPython(process.env) };
      expect(await runFetchModelsCli(['--model', 'base', '--dest', dest, '--base-url', real.baseUrl, '--prepare'], { stdout: out, stderr: err, env })).toBe(0);
      const folder = join(dest, 'whisper-base');
      const lookup = await findPreparedModel(join(dest, 'prepared'), folder, 'q8');
      expect(lookup.found?.dir).toBe(preparedModelDir(join(dest, 'prepared'), folder, 'q8'));
      expect(out.text()).toContain(`${folder} prepared → ${lookup.found?.dir}`);
    } finally {
      await real.stop();
    }

    // The random bytes of the shared fake hub are no ONNX model: fetched, then a one-line failure.
    const err = collector();
    const code = await runFetchModelsCli(['--model', 'base', '--dest', dest, '--base-url', hub.baseUrl, '--prepare'], {
      stdout: collector(),
      stderr: err,
      env: { MODEL_PREP_PYTHON: findPrepPython(process.env) },
    });
    expect(code).toBe(1);
    expect(err.text()).toMatch(/^fetch-models: preparing .*whisper-base \(q8\) failed \(exit 1\)/m);
  }, 180_000);

  it('npm run fetch-models prints one line and exits 1 when offline', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'tools/fetch-models.ts', '--model', 'tiny', '--dest', dest, '--base-url', `http://127.0.0.1:${port}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines.at(-1)).toMatch(new RegExp(`^fetch-models: cannot reach 127\\.0\\.0\\.1:${port}: are you offline\\? \\(ECONNREFUSED\\)`));
    expect(lines.filter((l) => l.startsWith('fetch-models:'))).toHaveLength(1);
  });
});
