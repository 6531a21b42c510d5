/**
 * `npm start`: a single host runs the API and one worker as two child
 * processes (inference never shares the API's event loop). Signals are
 * forwarded; the worker gets its full grace period; the exit code is the
 * worst of the two. Nothing outlives the supervisor: the children hold an
 * IPC channel to it and stop when it closes (even after a SIGKILL here), and
 * the supervisor stops them when its own parent (npm) is gone.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadConfigOrExit } from './core/config.js';
import { createLogger } from './core/logger.js';
import { siblingModule } from './core/package-files.js';
import { supervisedByParent, watchParent } from './core/parent-watch.js';

const config = loadConfigOrExit(process.env);
const log = createLogger({ level: config.log.level, pretty: config.log.pretty, name: 'meno' }).child({ module: 'supervisor' });

// Sources under tsx (npm run dev) start source children, compiled code (npm start) compiled ones.
const entry = (name: string) => fileURLToPath(siblingModule(import.meta.url, name));
const children: { name: string; proc: ChildProcess; exited: Promise<number> }[] = [
  { name: 'api', path: entry('./api/main') },
  { name: 'worker', path: entry('./worker/main') },
].map(({ name, path }) => {
  const proc = spawn(process.execPath, [...process.execArgv, path], { stdio: ['inherit', 'inherit', 'inherit', 'ipc'], env: process.env });
  const exited = new Promise<number>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
  return { name, proc, exited };
});
log.info({ children: children.map((c) => ({ name: c.name, pid: c.proc.pid })) }, 'started api and worker');

let stopping = false;
const stopAll = (signal: NodeJS.Signals) => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'stopping api and worker');
  for (const child of children) child.proc.kill(signal);
};
process.on('SIGTERM', stopAll);
process.on('SIGINT', stopAll);
if (supervisedByParent()) {
  watchParent({
    onGone: (reason) => {
      log.warn({ reason }, 'parent process gone; stopping api and worker');
      stopAll('SIGTERM');
    },
  });
}

// If either child dies on its own, stop the other so the host's supervisor sees the failure.
for (const child of children) {
  void child.exited.then((code) => {
    if (!stopping) log.error({ child: child.name, code }, 'child exited; stopping the other');
    stopAll('SIGTERM');
  });
}
const codes = await Promise.all(children.map((c) => c.exited));
process.exit(Math.max(...codes));
