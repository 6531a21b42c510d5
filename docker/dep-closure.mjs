/* global process, console */
// Prints, one per line, the node_modules folders that the named packages need
// at run time (dependencies and installed optional dependencies, resolved the
// way Node resolves them), read from package-lock.json. The images use it to
// keep tsx, a devDependency, after `npm prune --omit=dev`.
import { existsSync, readFileSync } from 'node:fs';

const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const packages = lock.packages ?? {};
const roots = process.argv.slice(2);
if (roots.length === 0) {
  console.error('usage: node docker/dep-closure.mjs <package>...');
  process.exit(2);
}

/** Node's lookup: node_modules/<dep> in the requiring folder, then in each ancestor. */
function locate(from, dep) {
  let base = from;
  for (;;) {
    const candidate = `${base ? `${base}/` : ''}node_modules/${dep}`;
    if (packages[candidate]) return candidate;
    if (!base) return undefined;
    const cut = base.lastIndexOf('/node_modules/');
    base = cut === -1 ? '' : base.slice(0, cut);
  }
}

const keep = new Set();
const queue = roots.map((name) => {
  const found = locate('', name);
  if (!found) {
    console.error(`${name} is not in package-lock.json`);
    process.exit(1);
  }
  return found;
});
while (queue.length > 0) {
  const path = queue.pop();
  if (keep.has(path) || !existsSync(path)) continue;
  keep.add(path);
  const meta = packages[path];
  for (const dep of Object.keys({ ...meta.dependencies, ...meta.optionalDependencies })) {
    const found = locate(path, dep);
    if (found) queue.push(found);
  }
}
process.stdout.write([...keep].sort().join('\n') + '\n');
