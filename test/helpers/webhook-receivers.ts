/** Real webhook receiver processes (webhook-receiver.mjs) on loopback, for webhook tests. */
import { fileURLToPath } from 'node:url';
import { type LogLine, type ServiceProcess, spawnCommand } from './processes.js';

export interface ReceivedRequest {
  path: string;
  headers: Record<string, string>;
  body: string;
  status: number;
  at: number;
}

export interface Receiver {
  port: number;
  url(path?: string): string;
  /** Requests received so far, in order. */
  received(): ReceivedRequest[];
  /** Resolves once `n` requests arrived (of this process and the earlier ones on the same handle). */
  waitFor(n: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  /** Stops the process (SIGKILL: a receiver that is gone at once). */
  stop(): Promise<void>;
  /** Starts again on the same port, keeping what was received. */
  restart(): Promise<void>;
}

const SCRIPT = fileURLToPath(new URL('./webhook-receiver.mjs', import.meta.url));

export interface ReceiverOptions {
  /** Statuses answered in turn, the last repeating. @defaultValue [200] */
  plan?: number[];
  delayMs?: number;
  port?: number;
}

export async function startReceiver(options: ReceiverOptions = {}): Promise<Receiver> {
  const earlier: ReceivedRequest[] = [];
  let proc: ServiceProcess;
  let port = options.port ?? 0;
  const spawn = async () => {
    proc = spawnCommand('receiver', [process.execPath, SCRIPT], {
      PORT: String(port),
      RECEIVER_PLAN: (options.plan ?? [200]).join(','),
      RECEIVER_DELAY_MS: String(options.delayMs ?? 0),
    });
    const line = await proc.waitForLog((l) => l.msg === 'listening', 10_000);
    port = line.port as number;
  };
  await spawn();
  const mine = (): ReceivedRequest[] => proc.logs().filter((l: LogLine) => l.msg === 'received') as unknown as ReceivedRequest[];
  const received = () => [...earlier, ...mine()];
  return {
    get port() {
      return port;
    },
    url: (path = '/hook') => `http://127.0.0.1:${port}${path}`,
    received,
    async waitFor(n, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (received().length < n) {
        if (Date.now() > deadline) throw new Error(`receiver: ${received().length} of ${n} requests after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return received();
    },
    async stop() {
      proc.signal('SIGKILL');
      await proc.exited;
    },
    async restart() {
      earlier.push(...mine());
      await spawn();
    },
  };
}
