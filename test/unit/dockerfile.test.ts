import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  base: string;
  name?: string;
  instructions: Instruction[];
}

interface Dockerfile {
  args: Map<string, string>;
  stages: Stage[];
}

/** A small Dockerfile reader: comments, `\` continuations, global ARG defaults, stages. */
function readDockerfile(path: string): Dockerfile {
  const logical: string[] = [];
  let current = '';
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (current !== '' && line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(current + line);
    current = '';
  }
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of logical) {
    const [keyword, ...rest] = line.split(/\s+/);
    const instruction = { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    if (instruction.keyword === 'FROM') {
      const [image, as, name] = rest;
      stages.push({ base: substitute(image, args), name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else if (stages.length === 0 && instruction.keyword === 'ARG') {
      const [key, value = ''] = instruction.args.split('=');
      args.set(key, value);
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return { args, stages };
}

function substitute(text: string, args: Map<string, string>): string {
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a: string | undefined, b: string | undefined) => args.get((a ?? b) as string) ?? '');
}

function all(stage: Stage, keyword: string): string[] {
  return stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
}

function last(stage: Stage, keyword: string): string | undefined {
  return all(stage, keyword).at(-1);
}

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
const api = readDockerfile('Dockerfile.api');
const worker = readDockerfile('Dockerfile.worker');
const finalStage = (d: Dockerfile): Stage => d.stages.at(-1)!;

describe.each([
  { file: 'Dockerfile.api', dockerfile: api, script: 'start:api', port: '3000', healthPort: 'PORT' },
  { file: 'Dockerfile.worker', dockerfile: worker, script: 'start:worker', port: '9464', healthPort: 'WORKER_METRICS_PORT' },
])('$file', ({ dockerfile, script, port, healthPort }) => {
  const runtime = finalStage(dockerfile);

  it('is multi-stage: dependencies are installed in a node:22 stage, not in the runtime stage', () => {
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
    const deps = dockerfile.stages.find((s) => s.name === 'deps');
    expect(deps?.base).toMatch(/^node:22-bookworm-slim$/);
    expect(all(deps!, 'RUN').join('\n')).toMatch(/npm ci --ignore-scripts/);
    expect(all(runtime, 'RUN').join('\n')).not.toMatch(/npm (ci|install)/);
    expect(all(runtime, 'COPY')).toContain('--from=deps /app/node_modules ./node_modules');
  });

  it('compiles to dist/ in the dependency stage and ships no devDependency and no TypeScript source', () => {
    const deps = dockerfile.stages.find((s) => s.name === 'deps')!;
    const run = all(deps, 'RUN').join('\n');
    expect(run).toMatch(/npm ci --ignore-scripts .*npm run build .*npm prune --omit=dev/);
    expect(all(runtime, 'COPY')).toContain('--from=deps /app/dist ./dist');
    // Only the console's static files (plain JS/CSS) come from src/.
    expect(all(runtime, 'COPY').filter((c) => /(^|\s|\/app\/)src\b/.test(c))).toEqual(dockerfile === api ? ['--from=deps /app/src/console/public ./src/console/public'] : []);
    expect(readFileSync(dockerfile === api ? 'Dockerfile.api' : 'Dockerfile.worker', 'utf8')).not.toMatch(/--import tsx/);
  });

  it('runs as a non-root user', () => {
    const user = last(runtime, 'USER');
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    // The user is created in the runtime stage (or exists in the base image).
    expect(all(runtime, 'RUN').join('\n')).toContain(`useradd --uid \${APP_UID}`);
    const index = runtime.instructions.findIndex((i) => i.keyword === 'USER');
    expect(runtime.instructions.slice(index + 1).some((i) => i.keyword === 'RUN')).toBe(false);
  });

  it('has a HEALTHCHECK that fetches /healthz on the service port', () => {
    const healthcheck = last(runtime, 'HEALTHCHECK');
    expect(healthcheck).toBeDefined();
    expect(healthcheck).not.toMatch(/^NONE/i);
    expect(healthcheck).toContain('/healthz');
    expect(healthcheck).toContain(`process.env.${healthPort} || ${port}`);
    expect(all(runtime, 'EXPOSE')).toContain(port);
  });

  it(`starts the same entry point as "npm run ${script}"`, () => {
    const entry = /^exec node (dist\/\S+\.js)$/.exec(pkg.scripts[script])?.[1];
    expect(entry, `package.json script ${script}`).toBeDefined();
    const cmd = JSON.parse(last(runtime, 'CMD') ?? 'null') as string[];
    expect(cmd).toEqual(['node', entry]);
    expect(JSON.parse(last(runtime, 'ENTRYPOINT') ?? 'null')).toEqual(['/usr/bin/tini', '--']);
    expect(all(runtime, 'RUN').join('\n')).toMatch(/apt-get install .*\btini\b/);
  });

  it('uses the distribution ffmpeg through FFMPEG_PATH/FFPROBE_PATH', () => {
    expect(all(runtime, 'RUN').join('\n')).toMatch(/apt-get install -y --no-install-recommends ffmpeg/);
    const env = all(runtime, 'ENV').join(' ');
    expect(env).toContain('FFMPEG_PATH=/usr/bin/ffmpeg');
    expect(env).toContain('FFPROBE_PATH=/usr/bin/ffprobe');
  });
});

describe('Dockerfile.api', () => {
  it('is slim: node:22-bookworm-slim at run time, CUDA download skipped', () => {
    expect(api.args.get('NODE_IMAGE')).toBe('node:22-bookworm-slim');
    expect(finalStage(api).base).toBe('node:22-bookworm-slim');
    const deps = api.stages.find((s) => s.name === 'deps')!;
    expect(all(deps, 'ENV').join(' ')).toContain('ONNXRUNTIME_NODE_INSTALL=skip');
    expect(readFileSync('Dockerfile.api', 'utf8')).not.toMatch(/ONNXRUNTIME_NODE_INSTALL=(true|cuda12)|install\.js/);
  });
});

describe('Dockerfile.worker', () => {
  const runtime = finalStage(worker);

  it('runs on an NVIDIA CUDA 12 + cuDNN runtime image with Node 22 copied from the official image', () => {
    expect(runtime.base).toMatch(/^nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu\d\d\.04$/);
    const nodeStage = worker.stages.find((s) => s.name === 'node');
    expect(nodeStage?.base).toMatch(/^node:22/);
    expect(all(runtime, 'COPY')).toContain('--from=node /usr/local/bin/node /usr/local/bin/node');
  });

  it("installs onnxruntime-node's CUDA provider at build time and fails the build without it", () => {
    const deps = worker.stages.find((s) => s.name === 'deps')!;
    const run = all(deps, 'RUN').join('\n');
    expect(run).toContain('ONNXRUNTIME_NODE_INSTALL=true node node_modules/onnxruntime-node/script/install.js');
    expect(run).toMatch(/libonnxruntime_providers_cuda\.so.*test -s/);
  });

  it('matches the install script of the onnxruntime-node actually installed', () => {
    // If an upgrade renames the flag, the manifest or the library files, this fails before an image silently lacks CUDA.
    const require = createRequire(import.meta.url);
    const utils = readFileSync(require.resolve('onnxruntime-node/script/install-utils.js'), 'utf8');
    expect(utils).toContain('process.env.ONNXRUNTIME_NODE_INSTALL');
    expect(utils).toMatch(/case 'skip':\s*return false;/);
    const metadata = require('onnxruntime-node/script/install-metadata.js') as {
      requirements: Record<string, string[]>;
      manifests: Record<string, Record<string, unknown>>;
    };
    expect(metadata.requirements['linux/x64']).toContain('cuda12');
    // The flag values the images use, read by the script's own parser.
    const flag = (value: string): string =>
      execFileSync(process.execPath, ['-e', "process.stdout.write(String(JSON.stringify(require('onnxruntime-node/script/install-utils.js').parseInstallFlag())))"], {
        encoding: 'utf8',
        env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: value, ONNXRUNTIME_NODE_INSTALL_CUDA: '' },
      });
    // `true` forces the platform's manifest (cuda12 on linux/x64), `skip` skips.
    expect(flag('true')).toBe('true');
    expect(flag('skip')).toBe('false');
    expect(Object.keys(metadata.manifests['linux/x64:cuda12'])).toEqual(
      expect.arrayContaining(['./libonnxruntime_providers_cuda.so', './libonnxruntime_providers_shared.so']),
    );
  });

  it('keeps models out of the image unless BAKE_MODEL is given', () => {
    const models = worker.stages.find((s) => s.name === 'models')!;
    expect(all(models, 'ARG')).toContain('BAKE_MODEL=');
    expect(all(models, 'RUN').join('\n')).toMatch(/if \[ -n "\$BAKE_MODEL" \]; then .*dist\/tools\/fetch-models\.js --model "\$BAKE_MODEL"/);
    expect(all(runtime, 'ENV').join(' ')).toContain('MODELS_DIR=/models');
  });
});

describe('.dockerignore', () => {
  const patterns = readFileSync('.dockerignore', 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));

  it('excludes node_modules, models, secrets and VCS data', () => {
    expect(patterns).toEqual(expect.arrayContaining(['node_modules', '**/node_modules', 'models', '.env', '.git']));
  });

  it('keeps what the images copy', () => {
    for (const needed of ['src', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'tools']) {
      expect(patterns, needed).not.toContain(needed);
    }
  });
});

describe('systemd units (deploy/systemd)', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
  const units = { 'meno-worker@.service': 'start:worker', 'meno-api.service': 'start:api' } as const;
  for (const [file, script] of Object.entries(units)) {
    it(`${file} runs node on the entry of "npm run ${script}" and outlasts the shutdown grace`, () => {
      const unit = readFileSync(`deploy/systemd/${file}`, 'utf8');
      const value = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(unit)?.[1];
      const entry = /^exec node (dist\/\S+\.js)$/.exec(pkg.scripts[script])?.[1];
      expect(entry).toBeDefined();
      expect(value('ExecStart')).toBe(`/usr/bin/node ${entry}`);
      expect(value('KillSignal')).toBe('SIGTERM');
      expect(value('KillMode')).toBe('mixed');
      // SHUTDOWN_GRACE_MS defaults to 30 s; systemd must wait longer before SIGKILL.
      expect(Number(value('TimeoutStopSec'))).toBeGreaterThan(30 + 5);
    });
  }
});
