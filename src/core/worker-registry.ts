/**
 * Worker registry in Redis: every worker process writes a heartbeat (what it
 * runs, where its /healthz and /metrics answer, how busy it is) under a key
 * that expires after a few missed beats, so the API can list the live
 * workers of a deployment on any number of hosts without reaching them.
 */
import type { Redis } from 'ioredis';
import type { Logger } from './logger.js';

export interface WorkerHeartbeat {
  /** `<host>-<pid>-<random>`: unique per process start. */
  workerId: string;
  host: string;
  pid: number;
  model: string;
  executionProvider: string;
  /** The queues it consumes (regular, large). */
  queues: readonly string[];
  concurrency: number;
  /** Jobs it is running now. */
  activeJobs: number;
  /** Port of its /healthz and /metrics server on `host`; null when it serves none. */
  metricsPort: number | null;
  startedAt: string;
  beatAt: string;
}

export const HEARTBEAT_INTERVAL_MS = 5000;
/** Three missed beats and the worker drops out of the list. */
export const HEARTBEAT_TTL_MS = 3 * HEARTBEAT_INTERVAL_MS;
const LIST_LIMIT = 1000;

export class WorkerRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs = HEARTBEAT_TTL_MS,
  ) {}

  private key(workerId: string): string {
    return `${this.prefix}:meno-workers:${workerId}`;
  }

  async beat(heartbeat: WorkerHeartbeat): Promise<void> {
    await this.redis.set(this.key(heartbeat.workerId), JSON.stringify(heartbeat), 'PX', this.ttlMs);
  }

  /** A worker that stops cleanly leaves the list at once instead of after the TTL. */
  async remove(workerId: string): Promise<void> {
    await this.redis.del(this.key(workerId));
  }

  /** The workers whose last heartbeat has not expired, by id. */
  async list(): Promise<WorkerHeartbeat[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await this.redis.scan(cursor, 'MATCH', this.key('*'), 'COUNT', 200);
      keys.push(...found);
      cursor = next;
    } while (cursor !== '0' && keys.length < LIST_LIMIT);
    if (keys.length === 0) return [];
    const values = await this.redis.mget(...keys);
    return values
      .filter((v): v is string => v !== null)
      .map((v) => JSON.parse(v) as WorkerHeartbeat)
      .sort((a, b) => a.workerId.localeCompare(b.workerId));
  }
}

/**
 * Beats now and every `intervalMs` until stopped; a beat Redis refuses is
 * logged and the next one tries again. `stop` removes the entry.
 */
export function startHeartbeat(registry: WorkerRegistry, current: () => WorkerHeartbeat, logger: Logger, intervalMs = HEARTBEAT_INTERVAL_MS) {
  const log = logger.child({ module: 'worker-registry' });
  const beat = () =>
    registry.beat({ ...current(), beatAt: new Date().toISOString() }).catch((err: unknown) => {
      log.debug({ err: { message: (err as Error).message } }, 'heartbeat not written');
    });
  void beat();
  const timer = setInterval(() => void beat(), intervalMs);
  timer.unref();
  return {
    async stop(): Promise<void> {
      clearInterval(timer);
      await registry.remove(current().workerId).catch(() => {});
    },
  };
}
