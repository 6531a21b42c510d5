/**
 * `npm run testbed [-- <vitest filters>]`: builds the multi-host test bed's
 * network, checks it is sealed off before anything starts, runs the
 * scenarios with vitest inside the "client" namespace (so every client of
 * the test bed, the tests' own included, talks over the test bed's links),
 * and tears everything down afterwards: on success, failure, or a signal.
 * Must run as root (it creates network namespaces) with iproute2 installed.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { assertSealed, createNetwork, destroyNetwork, NAME_PREFIX, planTopology, sweepLeftovers } from './network.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const VITEST = fileURLToPath(new URL('../../node_modules/vitest/vitest.mjs', import.meta.url));

if (process.getuid?.() !== 0) {
  console.error('the test bed creates network namespaces: run it as root');
  process.exit(2);
}

const swept = sweepLeftovers();
if (swept.length > 0) console.error(`testbed: removed leftovers of dead runs ${swept.join(', ')}`);

const topology = planTopology(`${NAME_PREFIX}${process.pid}`);
let tornDown = false;
const tearDown = (): void => {
  if (tornDown) return;
  tornDown = true;
  destroyNetwork(topology);
};
process.on('exit', tearDown);

try {
  createNetwork(topology);
  assertSealed(topology);
} catch (err) {
  console.error(`testbed: ${(err as Error).message}`);
  process.exit(1);
}
console.error(`testbed: network ${topology.prefix} up and sealed (no default route, no route off the machine)`);

const child = spawn(
  'ip',
  ['netns', 'exec', topology.hosts.client.netns, process.execPath, VITEST, 'run', '--config', 'test/multihost/vitest.config.ts', ...process.argv.slice(2)],
  { cwd: ROOT, stdio: 'inherit', env: { ...process.env, TESTBED_TOPOLOGY: JSON.stringify(topology) } },
);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    console.error(`testbed: ${sig}: stopping the tests and tearing the network down`);
    child.kill(sig);
    // Whatever is still running inside the namespaces is killed by the teardown.
    setTimeout(() => process.exit(130), 5000).unref();
  });
}
child.on('exit', (code, signal) => {
  tearDown();
  console.error(`testbed: network ${topology.prefix} removed`);
  process.exit(code ?? (signal ? 1 : 0));
});
