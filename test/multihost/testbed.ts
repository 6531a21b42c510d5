/**
 * What the scenarios share: the topology the launcher built, and a service
 * stack placed on it: Redis and FerretDB on the core host (Redis on an
 * address of its own), the API on the api host, workers on worker hosts,
 * each started with `ip netns exec`. Audio stays in local folders
 * (AUDIO_ROOT, STORAGE_DIR) that every namespace sees through the shared
 * filesystem: the stand-in for object storage until an S3 server runs on
 * the core host.
 */
import { type ServiceProcess, spawnService } from '../helpers/processes.js';
import type { Placement } from '../helpers/servers.js';
import { type Stack, startStack, type StackOptions } from '../helpers/stack.js';
import type { HostName, Topology } from './network.js';

const WORKER_READY_MS = 240_000;

export function topology(): Topology {
  const json = process.env.TESTBED_TOPOLOGY;
  if (!json) throw new Error('TESTBED_TOPOLOGY is not set: run the test bed with `npm run testbed`');
  return JSON.parse(json) as Topology;
}

export function placement(topo: Topology, host: HostName): Placement {
  return { netns: topo.hosts[host].netns, address: topo.hosts[host].address };
}

export interface TestbedStack extends Stack {
  topology: Topology;
  /** Starts a worker process tree on the worker host; resolves once it consumes. */
  startWorkerOn(host: HostName, env?: Record<string, string>): Promise<ServiceProcess>;
}

/** A stack whose servers run on the core host and whose API runs on the api host (not started yet). */
export async function startTestbedStack(options: Pick<StackOptions, 'env'> = {}): Promise<TestbedStack> {
  const topo = topology();
  const core = topo.hosts.core;
  const stack = await startStack({
    ...options,
    redisAt: { netns: core.netns, address: topo.redisAddress },
    mongoAt: placement(topo, 'core'),
    apiAt: placement(topo, 'api'),
  });
  return Object.assign(stack, {
    topology: topo,
    async startWorkerOn(host: HostName, env: Record<string, string> = {}) {
      // Loading the model takes 45 s and more on a busy 2-core machine: wait longer than stack.startWorker does.
      const proc = spawnService('worker', { ...stack.env, ...env }, host, placement(topo, host));
      stack.processes.push(proc);
      await proc.waitForLog((l) => l.msg === 'worker consuming', WORKER_READY_MS);
      return proc;
    },
  });
}
