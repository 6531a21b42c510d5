/**
 * The launcher's safety check on a network of its own: a fresh test bed
 * network is sealed; one default route (or a foreign interface) in any
 * namespace makes the check refuse; teardown leaves no namespace behind.
 */
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { assertSealed, createNetwork, destroyNetwork, NAME_PREFIX, namespacesOf, planTopology } from './network.js';

// Named after this test process: unique, and swept by a later run should this one die.
const topology = planTopology(`${NAME_PREFIX}${process.pid}`);
const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
const existing = () => ip('netns', 'list').split('\n').map((l) => l.split(' ')[0]);

afterEach(() => destroyNetwork(topology));

describe('test bed network', () => {
  it('is sealed when fresh; a default route in a worker namespace makes the check refuse', () => {
    createNetwork(topology);
    expect(() => assertSealed(topology)).not.toThrow();
    ip('-n', topology.hosts.w2.netns, 'route', 'add', 'default', 'dev', 'eth0');
    expect(() => assertSealed(topology)).toThrow(/w2: default route -4/);
  });

  it('a foreign interface in a namespace makes the check refuse', () => {
    createNetwork(topology);
    ip('-n', topology.hosts.core.netns, 'link', 'add', 'extra0', 'type', 'veth', 'peer', 'name', 'extra1');
    expect(() => assertSealed(topology)).toThrow(/core: unexpected interfaces .*extra0/);
  });

  it('teardown deletes every namespace, the switch with its bridge included', () => {
    createNetwork(topology);
    expect(namespacesOf(topology).every((ns) => existing().includes(ns))).toBe(true);
    destroyNetwork(topology);
    expect(namespacesOf(topology).filter((ns) => existing().includes(ns))).toEqual([]);
  });
});
