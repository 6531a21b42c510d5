/**
 * Real Redis and FerretDB processes for tests: started on free ports in temp
 * dirs, with handles to stop (clean), kill (SIGKILL) and restart them on the
 * same port and data dir. Fault tests start their own; the rest share the
 * pair that global-setup.ts starts. The multi-host test bed runs them inside
 * a network namespace, listening on that namespace's address (`at`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

export interface ServerHandle {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  readonly dataDir: string;
  /** True while the process is up. */
  running(): boolean;
  /** Graceful stop (SIGTERM; Redis saves its AOF), resolves when the process has exited. */
  stop(): Promise<void>;
  /** SIGKILL, resolves when the process has exited. */
  kill(): Promise<void>;
  /** Starts again on the same port and data dir, resolves when it accepts connections. */
  start(): Promise<void>;
  /** Stops the process and removes its data dir. */
  dispose(): Promise<void>;
}

/** Where a process runs: a network namespace (`ip netns exec`) and the address its servers listen on. */
export interface Placement {
  /** @defaultValue this process's namespace */
  netns?: string;
  /** @defaultValue 127.0.0.1 */
  address?: string;
}

/** The command line that runs `argv` in the placement's network namespace. */
export function inNetns(at: Placement | undefined, argv: string[]): string[] {
  return at?.netns ? ['ip', 'netns', 'exec', at.netns, ...argv] : argv;
}

export interface RedisServerOptions {
  /** appendonly yes + appendfsync everysec, as in production. @defaultValue true */
  aof?: boolean;
  at?: Placement;
}

/** Where `.ci/run` (scripts/provision.sh) puts the FerretDB binary it builds. */
export function ferretdbBinary(): string {
  const fromEnv = process.env.FERRETDB_BIN;
  if (fromEnv) return fromEnv;
  const toolsDir = process.env.MENO_TOOLS_DIR ?? join(process.env.HOME ?? '/root', '.cache', 'meno-tools');
  const cached = join(toolsDir, 'bin', 'ferretdb');
  if (existsSync(cached)) return cached;
  throw new Error(`FerretDB binary not found at ${cached}: run scripts/provision.sh (or set FERRETDB_BIN / MONGODB_URL)`);
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<ServerHandle> {
  const port = await freePort();
  const host = options.at?.address ?? '127.0.0.1';
  const dataDir = await mkdtemp(join(tmpdir(), 'meno-redis-'));
  const args = [
    '--port', String(port), '--bind', host, '--dir', dataDir,
    '--save', '', '--maxmemory-policy', 'noeviction', '--protected-mode', 'no',
    ...(options.aof === false ? ['--appendonly', 'no'] : ['--appendonly', 'yes', '--appendfsync', 'everysec']),
  ];
  return startManaged('redis', 'redis-server', args, { port, url: `redis://${host}:${port}`, dataDir, at: options.at });
}

export async function startFerretDB(options: { at?: Placement } = {}): Promise<ServerHandle> {
  const port = await freePort();
  const host = options.at?.address ?? '127.0.0.1';
  const dataDir = await mkdtemp(join(tmpdir(), 'meno-ferretdb-'));
  const args = [
    '--handler=sqlite', `--sqlite-url=file:${dataDir}/`, `--state-dir=${dataDir}`,
    `--listen-addr=${host}:${port}`, '--debug-addr=', '--telemetry=disable', '--log-level=error',
  ];
  return startManaged('ferretdb', ferretdbBinary(), args, { port, url: `mongodb://${host}:${port}/`, dataDir, at: options.at });
}

/**
 * Runs a server process (in `at`'s namespace), resolves once it accepts
 * connections on `port`; the handle restarts it with the same arguments.
 * Any further server (an S3 stand-in, say) starts through this.
 */
export async function startManaged(
  name: string,
  command: string,
  args: string[],
  where: { port: number; url: string; dataDir: string; at?: Placement },
): Promise<ServerHandle> {
  const { port, url, dataDir, at } = where;
  const host = at?.address ?? '127.0.0.1';
  const [bin, ...argv] = inNetns(at, [command, ...args]);
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const start = async (): Promise<void> => {
    if (child && child.exitCode === null && child.signalCode === null) return;
    const proc = spawn(bin, argv, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, FERRETDB_TELEMETRY: 'disable' } });
    let stderr = '';
    proc.stderr?.on('data', (data: Buffer) => { stderr = (stderr + data.toString()).slice(-4000); });
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    child = proc;
    await waitForPort(port, 15_000, () => (proc.exitCode !== null ? `${name} exited: ${stderr}` : undefined), host);
  };
  const signal = async (sig: NodeJS.Signals): Promise<void> => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill(sig);
    await exited;
  };

  await start();
  return {
    name, port, url, dataDir,
    running: () => !!child && child.exitCode === null && child.signalCode === null,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    start,
    dispose: async () => {
      await signal('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Resolves once something accepts TCP connections on the port. */
export async function waitForPort(port: number, timeoutMs: number, failed?: () => string | undefined, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = failed?.();
    if (why) throw new Error(why);
    if (await canConnect(port, host)) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function canConnect(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => { socket.destroy(); resolve(false); });
  });
}
