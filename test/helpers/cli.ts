/** The transcribe CLI run the way `npm run transcribe --` runs it (tsx, stdout/stderr piped, so no TTY). */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = `${ROOT}node_modules/.bin/tsx`;

/** CPU, two threads, English: the settings the CLI tests share. */
export const CLI_RUN = ['--device', 'cpu', '--threads', '2', '--language', 'en'];

/** Runs the CLI without LOG_LEVEL (its default output), resolving with the exit code and both streams. */
export function runCli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { LOG_LEVEL: _unset, ...env } = process.env;
  return new Promise((resolve) => {
    execFile(TSX, ['src/inference/cli.ts', ...args], { cwd: ROOT, env, timeout: 170_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}
