/**
 * Streaming multipart intake: the `file` part goes straight to disk through
 * a SHA-256 hash, never into memory, and the size limit is enforced while the
 * bytes arrive.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { Busboy, type BusboyFileStream, type BusboyInstance } from '@fastify/busboy';
import { PayloadTooLargeError, ValidationError } from '../core/errors.js';

export interface UploadOptions {
  /** Folder for uploads in progress; on the same filesystem as the final folder, so moving a file there is a rename. */
  stagingDir: string;
  /** Largest accepted file part, in bytes. */
  maxBytes: number;
  /** Name of the form part that carries the audio. @defaultValue 'file' */
  fileField?: string;
}

export interface ReceivedUpload {
  /** Absolute path of the staged file; the caller moves or deletes it. */
  path: string;
  sizeBytes: number;
  /** Hex SHA-256 of the file's bytes. */
  sha256: string;
  /** The non-file fields of the form (at most {@link MAX_FIELDS}, each at most {@link MAX_FIELD_BYTES}). */
  fields: Record<string, string>;
}

/** Room for boundaries, part headers and small fields on top of the file in a Content-Length. */
export const MULTIPART_OVERHEAD_BYTES = 64 * 1024;
export const MAX_FIELDS = 8;
export const MAX_FIELD_BYTES = 1024;

/**
 * Streams a multipart/form-data request to `<stagingDir>/<random>.part`.
 * Throws PayloadTooLargeError (before reading, when Content-Length already
 * says so, or as soon as the file part passes `maxBytes`) and
 * ValidationError (malformed body, no file part, a second file, an
 * oversize field). On any failure the partial file is removed before the
 * error is thrown.
 */
export async function receiveUpload(request: Request, options: UploadOptions): Promise<ReceivedUpload> {
  const fileField = options.fileField ?? 'file';
  const declared = Number(request.headers.get('Content-Length') ?? NaN);
  if (declared > options.maxBytes + MULTIPART_OVERHEAD_BYTES) {
    throw new PayloadTooLargeError(`upload larger than the limit of ${options.maxBytes} bytes`);
  }
  if (!request.body) throw new ValidationError('the multipart body is empty');

  let parser: BusboyInstance;
  try {
    parser = Busboy({
      headers: { 'content-type': request.headers.get('Content-Type') ?? '' },
      limits: { fileSize: options.maxBytes, files: 1, fields: MAX_FIELDS, parts: MAX_FIELDS + 1, fieldSize: MAX_FIELD_BYTES, headerPairs: 20 },
    });
  } catch (err) {
    throw new ValidationError(`malformed multipart request: ${(err as Error).message}`, { cause: err });
  }

  await mkdir(options.stagingDir, { recursive: true });
  const path = join(options.stagingDir, `${randomUUID()}.part`);
  const source = Readable.fromWeb(request.body as NodeReadableStream<Uint8Array>);
  const fields: Record<string, string> = {};
  const hash = createHash('sha256');
  let sizeBytes = 0;
  let failure: Error | undefined;
  let fileStream: BusboyFileStream | undefined;
  let written: Promise<void> | undefined;

  const fail = (err: Error): void => {
    failure ??= err;
    // Stop reading the request and unblock the file pipeline; both reject and are awaited below.
    source.destroy();
    fileStream?.destroy(err);
  };

  parser.on('file', (name, stream) => {
    if (name !== fileField || fileStream) {
      stream.resume();
      if (name !== fileField) fail(new ValidationError(`unexpected file part "${name}": send the audio as the "${fileField}" part`));
      return;
    }
    fileStream = stream;
    stream.on('limit', () => fail(new PayloadTooLargeError(`upload larger than the limit of ${options.maxBytes} bytes`)));
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        sizeBytes += chunk.length;
        hash.update(chunk);
        callback(null, chunk);
      },
    });
    written = pipeline(stream, counter, createWriteStream(path, { flags: 'wx', mode: 0o640 }));
    written.catch((err: unknown) => fail(err as Error));
  });
  parser.on('field', (name, value, _nameTruncated, valueTruncated) => {
    if (valueTruncated) fail(new ValidationError(`form field "${name}" is longer than ${MAX_FIELD_BYTES} bytes`));
    else fields[name] = value;
  });
  parser.on('filesLimit', () => fail(new ValidationError(`only one file part is accepted`)));
  parser.on('fieldsLimit', () => fail(new ValidationError(`at most ${MAX_FIELDS} form fields are accepted`)));
  parser.on('partsLimit', () => fail(new ValidationError(`at most ${MAX_FIELDS + 1} form parts are accepted`)));

  try {
    await pipeline(source, parser);
  } catch (err) {
    fail(new ValidationError(`malformed multipart body: ${(err as Error).message}`, { cause: err }));
  }
  await written?.catch(() => {});
  if (!failure && fileStream?.truncated) failure = new PayloadTooLargeError(`upload larger than the limit of ${options.maxBytes} bytes`);
  if (!failure && !fileStream) failure = new ValidationError(`no "${fileField}" part in the multipart body`);
  if (failure) {
    await rm(path, { force: true });
    throw failure;
  }
  return { path, sizeBytes, sha256: hash.digest('hex'), fields };
}

/**
 * Removes staged `.part` files older than `maxAgeMs`: leftovers of a process
 * that died mid-upload. Younger files may belong to an upload in progress in
 * another API process sharing the folder, so they are left alone.
 * Returns how many files were removed.
 */
export async function sweepStaging(stagingDir: string, maxAgeMs: number, now = Date.now()): Promise<number> {
  let names: string[];
  try {
    names = await readdir(stagingDir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names.filter((n) => n.endsWith('.part'))) {
    const path = join(stagingDir, name);
    const info = await stat(path).catch(() => undefined);
    if (info && now - info.mtimeMs > maxAgeMs) {
      await rm(path, { force: true });
      removed++;
    }
  }
  return removed;
}
