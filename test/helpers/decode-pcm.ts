/**
 * Test-only audio decoding: runs the static ffmpeg from @ffmpeg-installer to
 * turn any file into 16 kHz mono float32 samples, without the product's
 * audio module.
 */
import { spawn } from 'node:child_process';

/** Decodes `file` to 16 kHz mono float32 PCM with ffmpeg. Rejects with ffmpeg's stderr on failure. */
export async function decodePcm(file: string): Promise<Float32Array> {
  const ffmpeg = (await import('@ffmpeg-installer/ffmpeg')).default.path;
  const child = spawn(ffmpeg, ['-nostdin', '-v', 'error', '-i', file, '-f', 'f32le', '-ac', '1', '-ar', '16000', '-'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const chunks: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`ffmpeg exited with ${code} on ${file}: ${stderr.trim()}`);
  const bytes = Buffer.concat(chunks);
  const samples = new Float32Array(bytes.length / 4);
  new Uint8Array(samples.buffer).set(bytes.subarray(0, samples.length * 4));
  return samples;
}
