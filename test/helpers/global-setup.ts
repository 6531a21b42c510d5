import type { TestProject } from 'vitest/node';
import { type ServerHandle, startFerretDB, startRedisServer } from './servers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    mongoUrl: string;
  }
}

/**
 * Starts one redis-server and one FerretDB for the whole run, unless
 * REDIS_URL / MONGODB_URL point at servers already running. Test files get
 * their own queue prefix and database on them (see services.ts).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started: ServerHandle[] = [];
  const [redisUrl, mongoUrl] = await Promise.all([
    process.env.REDIS_URL ?? startRedisServer({ aof: false }).then((s) => { started.push(s); return s.url; }),
    process.env.MONGODB_URL ?? startFerretDB().then((s) => { started.push(s); return s.url; }),
  ]);
  project.provide('redisUrl', redisUrl);
  project.provide('mongoUrl', mongoUrl);
  return async () => {
    await Promise.all(started.map((s) => s.dispose()));
  };
}
