/**
 * The test bed's network: one Linux network namespace per host (core, api,
 * client, workers), each linked by a veth pair to a bridge that lives in a
 * namespace of its own (the "switch"), so the machine's own interfaces and
 * routes are never touched. No namespace has a default route: nothing the
 * test bed runs can send a packet off the machine. Names carry a prefix and
 * the launcher's pid, so parallel runs never clash and leftovers of a dead
 * run can be told apart and swept.
 */
import { execFileSync, spawnSync } from 'node:child_process';

export const HOST_NAMES = ['core', 'api', 'client', 'w1', 'w2', 'w3'] as const;
export type HostName = (typeof HOST_NAMES)[number];
export const WORKER_HOSTS = ['w1', 'w2', 'w3'] as const satisfies readonly HostName[];

export interface TestbedHost {
  netns: string;
  address: string;
  /** The switch-side end of the host's veth pair: setting it down cuts the host off. */
  switchPort: string;
}

/** What the launcher hands to the tests (as JSON in TESTBED_TOPOLOGY). */
export interface Topology {
  prefix: string;
  switchNetns: string;
  hosts: Record<HostName, TestbedHost>;
  /** A second address on the core host that only Redis listens on, so one host can lose Redis alone. */
  redisAddress: string;
}

/** Prefix of every namespace name; the launcher's pid follows it. */
export const NAME_PREFIX = 'mtb';
const SUBNET = '10.77.0';
const HOST_OCTET: Record<HostName, number> = { core: 10, api: 20, client: 30, w1: 41, w2: 42, w3: 43 };
const REDIS_OCTET = 11;

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Plans the names and addresses of run `prefix` (e.g. `mtb1234`). */
export function planTopology(prefix: string): Topology {
  const hosts = Object.fromEntries(
    HOST_NAMES.map((name) => [name, { netns: `${prefix}-${name}`, address: `${SUBNET}.${HOST_OCTET[name]}`, switchPort: `p-${name}` }]),
  ) as Record<HostName, TestbedHost>;
  return { prefix, switchNetns: `${prefix}-sw`, hosts, redisAddress: `${SUBNET}.${REDIS_OCTET}` };
}

/** Every namespace of the run, the switch last (deleting it removes the veths and the bridge). */
export function namespacesOf(topology: Topology): string[] {
  return [...HOST_NAMES.map((h) => topology.hosts[h].netns), topology.switchNetns];
}

/** Creates the namespaces, the bridge and the links; tears down what it made if a step fails. */
export function createNetwork(topology: Topology): void {
  const existing = listNamespaces();
  const clash = namespacesOf(topology).filter((n) => existing.includes(n));
  if (clash.length > 0) throw new Error(`namespaces already exist: ${clash.join(', ')}`);
  try {
    const sw = topology.switchNetns;
    ip(['netns', 'add', sw]);
    ip(['-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', sw, 'link', 'set', 'br0', 'up']);
    for (const name of HOST_NAMES) {
      const host = topology.hosts[name];
      ip(['netns', 'add', host.netns]);
      // Both ends are created directly inside their namespaces: nothing appears in the machine's own namespace.
      ip(['link', 'add', 'eth0', 'netns', host.netns, 'type', 'veth', 'peer', 'name', host.switchPort, 'netns', sw]);
      ip(['-n', sw, 'link', 'set', host.switchPort, 'master', 'br0', 'up']);
      ip(['-n', host.netns, 'link', 'set', 'lo', 'up']);
      ip(['-n', host.netns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0']);
      if (name === 'core') ip(['-n', host.netns, 'addr', 'add', `${topology.redisAddress}/24`, 'dev', 'eth0']);
      ip(['-n', host.netns, 'link', 'set', 'eth0', 'up']);
    }
  } catch (err) {
    destroyNetwork(topology);
    throw err;
  }
}

/**
 * Throws unless every namespace is sealed: no default route (IPv4 or IPv6),
 * no route to an outside address, and no interface besides loopback and the
 * test bed's own veths and bridge.
 */
export function assertSealed(topology: Topology): void {
  const problems: string[] = [];
  for (const ns of namespacesOf(topology)) {
    for (const family of ['-4', '-6']) {
      const routes = ip(['-n', ns, family, 'route', 'show', 'default']).trim();
      if (routes) problems.push(`${ns}: default route ${family}: ${routes}`);
    }
    for (const outside of ['192.0.2.1', '8.8.8.8', '2001:4860:4860::8888']) {
      const res = spawnSync('ip', ['-n', ns, 'route', 'get', outside], { encoding: 'utf8' });
      if (res.status === 0) problems.push(`${ns}: ${outside} is routable: ${res.stdout.trim()}`);
    }
    const links = ip(['-n', ns, '-o', 'link', 'show']).split('\n').filter(Boolean).map((l) => l.split(':')[1].trim().split('@')[0]);
    const allowed = ns === topology.switchNetns ? ['lo', 'br0', ...HOST_NAMES.map((h) => topology.hosts[h].switchPort)] : ['lo', 'eth0'];
    const foreign = links.filter((l) => !allowed.includes(l));
    if (foreign.length > 0) problems.push(`${ns}: unexpected interfaces ${foreign.join(', ')}`);
  }
  if (problems.length > 0) throw new Error(`the test bed's namespaces are not sealed off:\n${problems.join('\n')}`);
}

/** Kills every process inside the run's namespaces (all started by the test bed) and deletes them. Idempotent. */
export function destroyNetwork(topology: Topology): void {
  const existing = listNamespaces();
  for (const ns of namespacesOf(topology).filter((n) => existing.includes(n))) {
    const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
    for (const pid of pids) {
      if (pid === process.pid) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    spawnSync('ip', ['netns', 'del', ns]);
  }
}

/** Deletes the namespaces of earlier runs whose launcher is dead (killed before it could clean up). */
export function sweepLeftovers(): string[] {
  const swept = new Set<string>();
  for (const ns of listNamespaces()) {
    const m = new RegExp(`^(${NAME_PREFIX}(\\d+))-`).exec(ns);
    if (!m || isAlive(Number(m[2]))) continue;
    swept.add(m[1]);
  }
  for (const prefix of swept) destroyNetwork(planTopology(prefix));
  return [...swept];
}

function listNamespaces(): string[] {
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Partition: the host's link to the switch goes down (its interface loses carrier; packets are dropped). */
export function cutLink(topology: Topology, host: HostName): void {
  ip(['-n', topology.switchNetns, 'link', 'set', topology.hosts[host].switchPort, 'down']);
}

export function restoreLink(topology: Topology, host: HostName): void {
  ip(['-n', topology.switchNetns, 'link', 'set', topology.hosts[host].switchPort, 'up']);
}

/** The host loses one address only (a blackhole route: its packets there are dropped). */
export function blockAddress(topology: Topology, host: HostName, address: string): void {
  ip(['-n', topology.hosts[host].netns, 'route', 'add', 'blackhole', `${address}/32`]);
}

export function unblockAddress(topology: Topology, host: HostName, address: string): void {
  ip(['-n', topology.hosts[host].netns, 'route', 'del', 'blackhole', `${address}/32`]);
}
