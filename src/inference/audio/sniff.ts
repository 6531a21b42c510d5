import { open } from 'node:fs/promises';

/** Container families recognised from the first bytes of a file. */
export type ContainerFamily =
  | 'wav'
  | 'rf64'
  | 'w64'
  | 'aiff'
  | 'caf'
  | 'flac'
  | 'mp3'
  | 'aac'
  | 'ogg'
  | 'mp4'
  | 'matroska'
  | 'asf'
  | 'avi'
  | 'mpegts'
  | 'mpeg-ps'
  | 'flv'
  | 'amr'
  | 'wavpack'
  | 'ape'
  | 'au'
  | 'ac3';

/** How many leading bytes {@link sniffContainer} looks at. */
export const SNIFF_BYTES = 4096;

const ASF_GUID = [0x30, 0x26, 0xb2, 0x75, 0x8e, 0x66, 0xcf, 0x11, 0xa6, 0xd9, 0x00, 0xaa, 0x00, 0x62, 0xce, 0x6c];
const W64_GUID = [0x72, 0x69, 0x66, 0x66, 0x2e, 0x91, 0xcf, 0x11, 0xa5, 0xd6, 0x28, 0xdb, 0x04, 0xd3, 0x00, 0x00];

function ascii(bytes: Uint8Array, offset: number, length: number): string {
  if (bytes.length < offset + length) return '';
  return String.fromCharCode(...bytes.subarray(offset, offset + length));
}

function startsWith(bytes: Uint8Array, magic: readonly number[], offset = 0): boolean {
  if (bytes.length < offset + magic.length) return false;
  return magic.every((b, i) => bytes[offset + i] === b);
}

/** Length of an ID3v2 tag (header included) at the start, or 0. */
function id3Length(bytes: Uint8Array): number {
  if (ascii(bytes, 0, 3) !== 'ID3' || bytes.length < 10) return 0;
  const size = ((bytes[6] & 0x7f) << 21) | ((bytes[7] & 0x7f) << 14) | ((bytes[8] & 0x7f) << 7) | (bytes[9] & 0x7f);
  const footer = bytes[5] & 0x10 ? 10 : 0;
  return 10 + size + footer;
}

function isMpegAudioFrame(bytes: Uint8Array, offset: number): boolean {
  if (bytes.length < offset + 4) return false;
  const b1 = bytes[offset + 1];
  if (bytes[offset] !== 0xff || (b1 & 0xe0) !== 0xe0) return false;
  const version = (b1 >> 3) & 0x03;
  const layer = (b1 >> 1) & 0x03;
  const bitrate = bytes[offset + 2] >> 4;
  const rate = (bytes[offset + 2] >> 2) & 0x03;
  return version !== 0x01 && layer !== 0x00 && bitrate !== 0x0f && rate !== 0x03;
}

function isAdtsFrame(bytes: Uint8Array, offset: number): boolean {
  if (bytes.length < offset + 7) return false;
  // 12-bit sync, then layer bits 00: distinguishes ADTS from MPEG audio layer I-III.
  return bytes[offset] === 0xff && (bytes[offset + 1] & 0xf6) === 0xf0;
}

/**
 * Recognises an audio or video container from its magic number. Returns null
 * for anything else (text, playlists, images, unknown formats). The API calls
 * it on uploads before ffmpeg ever sees the bytes.
 *
 * @param head - the first bytes of the file; {@link SNIFF_BYTES} is plenty, 12 is enough for most families.
 */
export function sniffContainer(head: Uint8Array): ContainerFamily | null {
  const b = head;
  const tag4 = ascii(b, 0, 4);
  if (tag4 === 'RIFF' || tag4 === 'RIFX') {
    const form = ascii(b, 8, 4);
    if (form === 'WAVE') return 'wav';
    if (form === 'AVI ') return 'avi';
    return null;
  }
  if (tag4 === 'RF64' && ascii(b, 8, 4) === 'WAVE') return 'rf64';
  if (tag4 === 'BW64' && ascii(b, 8, 4) === 'WAVE') return 'rf64';
  if (startsWith(b, W64_GUID)) return 'w64';
  if (tag4 === 'FORM' && ['AIFF', 'AIFC'].includes(ascii(b, 8, 4))) return 'aiff';
  if (tag4 === 'caff') return 'caf';
  if (tag4 === 'fLaC') return 'flac';
  if (tag4 === 'OggS') return 'ogg';
  if (ascii(b, 4, 4) === 'ftyp') return 'mp4';
  // Pre-ftyp QuickTime files start with a moov/mdat/free/wide atom.
  if (['moov', 'mdat', 'wide', 'free', 'skip'].includes(ascii(b, 4, 4))) return 'mp4';
  if (startsWith(b, [0x1a, 0x45, 0xdf, 0xa3])) return 'matroska';
  if (startsWith(b, ASF_GUID)) return 'asf';
  if (ascii(b, 0, 3) === 'FLV' && b[3] === 0x01) return 'flv';
  if (ascii(b, 0, 5) === '#!AMR') return 'amr';
  if (tag4 === 'wvpk') return 'wavpack';
  if (tag4 === 'MAC ') return 'ape';
  if (tag4 === '.snd') return 'au';
  if (startsWith(b, [0x00, 0x00, 0x01, 0xba])) return 'mpeg-ps';
  // MPEG-TS: sync byte 0x47 every 188 bytes.
  if (b.length >= 188 * 2 + 1 && b[0] === 0x47 && b[188] === 0x47 && b[376] === 0x47) return 'mpegts';
  if (startsWith(b, [0x0b, 0x77])) return 'ac3';
  const id3 = id3Length(b);
  if (id3 > 0) {
    // An ID3 tag fronts MP3 and sometimes ADTS AAC; the frame after it (when in view) tells which.
    if (isAdtsFrame(b, id3)) return 'aac';
    return 'mp3';
  }
  if (isAdtsFrame(b, 0)) return 'aac';
  if (isMpegAudioFrame(b, 0)) return 'mp3';
  return null;
}

/** Reads the first {@link SNIFF_BYTES} of a file and sniffs them. */
export async function sniffFile(path: string): Promise<ContainerFamily | null> {
  const handle = await open(path, 'r');
  try {
    const buffer = new Uint8Array(SNIFF_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, SNIFF_BYTES, 0);
    return sniffContainer(buffer.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}
