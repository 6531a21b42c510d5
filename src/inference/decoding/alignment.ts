/**
 * Token-to-audio alignment from the decoder's cross-attention, as OpenAI
 * whisper's `find_alignment` computes it: the alignment heads' attention
 * weights over the window's real frames, z-normalised per head and frame,
 * median-filtered along time, averaged over the heads, and a dynamic time
 * warping path through the negated matrix. Pure functions over typed arrays.
 */

/** Seconds per encoder frame (1500 frames per 30-s window). */
export const FRAME_SECONDS = 0.02;

/** @defaultValue openai-whisper's and transformers.js's width */
export const MEDIAN_FILTER_WIDTH = 7;

/**
 * Median of each row over a sliding window of `width` (odd) along the row,
 * edges reflected without repeating the edge value (as scipy/torch 'reflect').
 * Rows of `cols` values, row-major; returns a new array.
 */
export function medianFilterRows(data: Float32Array, cols: number, width: number): Float32Array {
  if (width % 2 !== 1 || width < 1) throw new RangeError(`median filter width must be a positive odd number, got ${width}`);
  const out = new Float32Array(data.length);
  const half = (width - 1) / 2;
  const window = new Float64Array(width);
  const rows = data.length / cols;
  for (let r = 0; r < rows; r++) {
    const row = data.subarray(r * cols, (r + 1) * cols);
    for (let c = 0; c < cols; c++) {
      for (let k = -half; k <= half; k++) {
        let i = c + k;
        if (i < 0) i = -i;
        else if (i >= cols) i = 2 * (cols - 1) - i;
        window[k + half] = row[Math.min(Math.max(i, 0), cols - 1)];
      }
      window.sort();
      out[r * cols + c] = window[half];
    }
  }
  return out;
}

/**
 * The cheapest monotonic path through `cost` (rows × cols, row-major) from
 * the first cell to the last, moving right, down or diagonally; ties go as in
 * OpenAI's `dtw_cpu` (diagonal only when strictly cheapest, then down, else
 * right). Returns the row and column of every cell on the path, in order.
 */
export function dynamicTimeWarping(cost: Float32Array, rows: number, cols: number): { rowIndices: number[]; colIndices: number[] } {
  const width = cols + 1;
  const acc = new Float64Array((rows + 1) * width).fill(Infinity);
  const trace = new Int8Array((rows + 1) * width).fill(-1);
  acc[0] = 0;
  for (let j = 1; j <= cols; j++) {
    for (let i = 1; i <= rows; i++) {
      const c0 = acc[(i - 1) * width + j - 1];
      const c1 = acc[(i - 1) * width + j];
      const c2 = acc[i * width + j - 1];
      let c: number;
      let t: number;
      if (c0 < c1 && c0 < c2) [c, t] = [c0, 0];
      else if (c1 < c0 && c1 < c2) [c, t] = [c1, 1];
      else [c, t] = [c2, 2];
      acc[i * width + j] = cost[(i - 1) * cols + j - 1] + c;
      trace[i * width + j] = t;
    }
  }
  for (let j = 0; j <= cols; j++) trace[j] = 2;
  for (let i = 0; i <= rows; i++) trace[i * width] = 1;
  const rowIndices: number[] = [];
  const colIndices: number[] = [];
  let i = rows;
  let j = cols;
  while (i > 0 || j > 0) {
    rowIndices.push(i - 1);
    colIndices.push(j - 1);
    const t = trace[i * width + j];
    if (t === 0) {
      i--;
      j--;
    } else if (t === 1) i--;
    else j--;
  }
  return { rowIndices: rowIndices.reverse(), colIndices: colIndices.reverse() };
}

export interface AlignmentInput {
  /**
   * Each alignment head's cross-attention weights, tokens × `totalFrames`
   * (softmax over all frames, as the ONNX decoders output them), row-major.
   */
  heads: readonly Float32Array[];
  /** Rows: every token fed to the teacher-forced pass. */
  tokens: number;
  /** Frames per row in `heads` (1500). */
  totalFrames: number;
  /** Frames of real audio (window samples / 320); the rest is padding and is left out. */
  frames: number;
  /** Rows to leave out of the path at the start (the start-of-transcript sequence) and at the end (the end token). */
  skipStart: number;
  skipEnd: number;
  /** @defaultValue {@link MEDIAN_FILTER_WIDTH} */
  medianFilterWidth?: number;
}

/**
 * The time (seconds from the window's start) at which the DTW path first
 * reaches each kept row: one entry per row from `skipStart` to
 * `tokens - skipEnd`. With rows [<|notimestamps|>, text…] kept, entry k is
 * where text token k begins and the last entry where the text ends.
 */
export function tokenJumpTimes(input: AlignmentInput): number[] {
  const { heads, tokens, totalFrames, skipStart, skipEnd } = input;
  const frames = Math.max(1, Math.min(input.frames, totalFrames));
  const width = input.medianFilterWidth ?? MEDIAN_FILTER_WIDTH;
  const kept = tokens - skipStart - skipEnd;
  if (kept <= 0 || heads.length === 0) return [];
  const matrix = new Float32Array(kept * frames);
  const head = new Float32Array(tokens * frames);
  for (const weights of heads) {
    // Renormalise over the real frames: a softmax over them alone, as OpenAI crops before its softmax.
    for (let r = 0; r < tokens; r++) {
      let sum = 0;
      for (let c = 0; c < frames; c++) sum += weights[r * totalFrames + c];
      const scale = sum > 0 ? 1 / sum : 0;
      for (let c = 0; c < frames; c++) head[r * frames + c] = weights[r * totalFrames + c] * scale;
    }
    // z-normalise each frame's column over the tokens (population std).
    for (let c = 0; c < frames; c++) {
      let mean = 0;
      for (let r = 0; r < tokens; r++) mean += head[r * frames + c];
      mean /= tokens;
      let variance = 0;
      for (let r = 0; r < tokens; r++) variance += (head[r * frames + c] - mean) ** 2;
      const std = Math.sqrt(variance / tokens);
      for (let r = 0; r < tokens; r++) head[r * frames + c] = std > 0 ? (head[r * frames + c] - mean) / std : 0;
    }
    const filtered = medianFilterRows(head.subarray(skipStart * frames, (tokens - skipEnd) * frames), frames, width);
    for (let k = 0; k < matrix.length; k++) matrix[k] -= filtered[k] / heads.length;
  }
  const { rowIndices, colIndices } = dynamicTimeWarping(matrix, kept, frames);
  const times: number[] = [];
  for (let k = 0; k < rowIndices.length; k++) {
    if (k === 0 || rowIndices[k] !== rowIndices[k - 1]) times.push(colIndices[k] * FRAME_SECONDS);
  }
  return times;
}
