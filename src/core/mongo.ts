import { type Db, MongoClient } from 'mongodb';
import type { Logger } from './logger.js';

export interface MongoOptions {
  url: string;
  db: string;
  /** Server selection, connect and socket timeouts, so no call waits forever on a dead server. @defaultValue 5000 */
  timeoutMs?: number;
  logger: Logger;
}

export interface MongoHandle {
  client: MongoClient;
  db: Db;
  /** Round-trips a ping; false when the server cannot be reached within the timeout. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Connects to MongoDB (or a wire-compatible server such as FerretDB) with
 * bounded timeouts. The driver reconnects by itself after an outage.
 */
export async function connectMongo(options: MongoOptions): Promise<MongoHandle> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const log = options.logger.child({ module: 'mongo' });
  const client = new MongoClient(options.url, {
    serverSelectionTimeoutMS: timeoutMs,
    connectTimeoutMS: timeoutMs,
    // Long enough for a big bulk upsert, short enough that a dead server fails the call.
    socketTimeoutMS: Math.max(timeoutMs * 6, 30_000),
    maxPoolSize: 20,
    // Polled heartbeats rather than the streaming protocol: in a soak, a streaming monitor left the API's
    // topology 'Unknown' for minutes after FerretDB restarted, while every request failed server selection.
    serverMonitoringMode: 'poll',
    heartbeatFrequencyMS: 2000,
    appName: 'meno',
  });
  await client.connect();
  log.info({ db: options.db }, 'mongodb connected');
  const db = client.db(options.db);
  let closed: Promise<void> | undefined;
  return {
    client,
    db,
    async ping() {
      try {
        await db.command({ ping: 1 }, { timeoutMS: timeoutMs });
        return true;
      } catch {
        return false;
      }
    },
    close() {
      closed ??= client.close().then(
        () => log.info('mongodb closed'),
        (err: unknown) => log.warn({ err }, 'mongodb close failed'),
      );
      return closed;
    },
  };
}
