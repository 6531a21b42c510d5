import { describe, expect, it } from 'vitest';
import { clientSafeMessage } from '../../src/core/errors.js';

describe('clientSafeMessage', () => {
  it('replaces server paths and file URLs, keeping the rest of the message', () => {
    expect(clientSafeMessage('audio file not readable: /data/import/acme/m1.wav (ENOENT)')).toBe('audio file not readable: <server path> (ENOENT)');
    expect(clientSafeMessage("ENOENT: no such file or directory, open '/tmp/meno-pcm-12/audio.f32'")).toBe(
      "ENOENT: no such file or directory, open '<server path>'",
    );
    expect(clientSafeMessage('cannot load file:///app/node_modules/x/y.onnx: bad')).toBe('cannot load <server path>: bad');
    expect(clientSafeMessage('ffmpeg: /usr/bin/ffmpeg exited 1; and /opt/a/b too')).toBe('ffmpeg: <server path> exited 1; and <server path> too');
  });

  it('leaves messages without paths alone (ratios, units, a lone slash)', () => {
    for (const message of ['attempt exceeded the regular queue timeout of 4000 ms', 'speed 2/3 of real time', 'a / b', 'language "xx" is not supported', 'see https://example.com/docs']) {
      expect(clientSafeMessage(message)).toBe(message);
    }
  });
});
