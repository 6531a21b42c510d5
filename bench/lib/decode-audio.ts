import { spawn } from 'node:child_process';

/**
 * Decodes any file ffmpeg reads to 16 kHz mono float32 samples (what the
 * transformers.js pipeline takes). Rejects with ffmpeg's stderr when it fails.
 */
export function decodeToFloat32(ffmpegPath: string, file: string): Promise<Float32Array> {
  return new Promise((resolve, reject) => {
    const ff = spawn(ffmpegPath, ['-nostdin', '-v', 'error', '-i', file, '-ac', '1', '-ar', '16000', '-f', 'f32le', 'pipe:1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    let stderr = '';
    ff.stdout.on('data', (c: Buffer) => chunks.push(c));
    ff.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    ff.on('error', reject);
    ff.on('close', (code) => {
      if (code !== 0) return reject(new Error(`ffmpeg exited ${code} on ${file}: ${stderr.trim()}`));
      const buf = Buffer.concat(chunks);
      // copy into an aligned buffer: Buffer.concat may return a view at an odd offset
      const samples = new Float32Array(buf.length / 4);
      new Uint8Array(samples.buffer).set(buf.subarray(0, samples.length * 4));
      resolve(samples);
    });
  });
}
