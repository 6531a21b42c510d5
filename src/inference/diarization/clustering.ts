/**
 * Agglomerative clustering of speaker embeddings on cosine distance, average
 * linkage (Lance-Williams updates on a condensed distance matrix, each
 * cluster's nearest neighbour cached so that a merge costs O(n) in the common
 * case). Stops at a distance threshold, or at a given number of clusters.
 * Pure; runs in the inference thread.
 */

export interface ClusteringOptions {
  /** Merging stops when the closest two clusters are farther apart than this (cosine distance; CAM++ windows of one reader stay under it on the dev long-form file, see bench/diarize.bench.ts). @defaultValue 0.47 */
  threshold?: number;
  /** Exactly this many speakers (overrides the threshold). */
  numSpeakers?: number;
  /** At least this many speakers: merging stops there even below the threshold. */
  minSpeakers?: number;
  /** At most this many speakers: merging goes on past the threshold until there. */
  maxSpeakers?: number;
  /**
   * Clusters with fewer members than this are folded into the nearest larger
   * cluster afterwards (a stray window is not a speaker). @defaultValue 3
   */
  minClusterSize?: number;
}

export const DEFAULT_CLUSTER_THRESHOLD = 0.47;

/** Normalises each row of `embeddings` (n × dim) to unit length, in place. */
export function normalizeRows(embeddings: Float32Array, dim: number): Float32Array {
  for (let i = 0; i < embeddings.length; i += dim) {
    let norm = 0;
    for (let j = 0; j < dim; j++) norm += embeddings[i + j]! * embeddings[i + j]!;
    norm = Math.sqrt(norm) || 1;
    for (let j = 0; j < dim; j++) embeddings[i + j] = embeddings[i + j]! / norm;
  }
  return embeddings;
}

/**
 * Cluster labels 0..k-1 (numbered by first appearance) of n unit-length
 * embeddings of `dim` values each.
 */
export function clusterEmbeddings(embeddings: Float32Array, dim: number, options: ClusteringOptions = {}): Int32Array {
  const n = embeddings.length / dim;
  const labels = new Int32Array(n);
  if (n <= 1) return labels;
  const threshold = options.threshold ?? DEFAULT_CLUSTER_THRESHOLD;
  const floor = Math.max(1, options.numSpeakers ?? options.minSpeakers ?? 1);
  const ceiling = options.numSpeakers ?? options.maxSpeakers ?? Number.POSITIVE_INFINITY;

  // Full symmetric matrix in float32: n = 4000 windows (about an hour of speech) is 64 MB.
  const dist = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let dot = 0;
      const a = i * dim;
      const b = j * dim;
      for (let k = 0; k < dim; k++) dot += embeddings[a + k]! * embeddings[b + k]!;
      const d = 1 - dot;
      dist[i * n + j] = d;
      dist[j * n + i] = d;
    }
  }
  const size = new Int32Array(n).fill(1);
  const active = new Uint8Array(n).fill(1);
  const parent = new Int32Array(n);
  for (let i = 0; i < n; i++) parent[i] = i;
  const nearest = new Int32Array(n);
  const nearestDist = new Float64Array(n);
  const refresh = (i: number) => {
    let best = -1;
    let bestDist = Number.POSITIVE_INFINITY;
    for (let j = 0; j < n; j++) {
      if (j !== i && active[j] && dist[i * n + j]! < bestDist) {
        bestDist = dist[i * n + j]!;
        best = j;
      }
    }
    nearest[i] = best;
    nearestDist[i] = bestDist;
  };
  for (let i = 0; i < n; i++) refresh(i);

  let clusters = n;
  while (clusters > floor) {
    let a = -1;
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < n; i++) {
      if (active[i] && nearestDist[i]! < best) {
        best = nearestDist[i]!;
        a = i;
      }
    }
    if (a < 0) break;
    if (best > threshold && clusters <= ceiling) break;
    const b = nearest[a]!;
    // Merge b into a: average linkage keeps size-weighted mean distances.
    const sa = size[a]!;
    const sb = size[b]!;
    for (let k = 0; k < n; k++) {
      if (!active[k] || k === a || k === b) continue;
      const d = (sa * dist[a * n + k]! + sb * dist[b * n + k]!) / (sa + sb);
      dist[a * n + k] = d;
      dist[k * n + a] = d;
    }
    active[b] = 0;
    parent[b] = a;
    size[a] = sa + sb;
    clusters--;
    for (let k = 0; k < n; k++) {
      if (!active[k]) continue;
      if (k === a || nearest[k] === a || nearest[k] === b) {
        refresh(k);
      } else if (dist[k * n + a]! < nearestDist[k]!) {
        nearest[k] = a;
        nearestDist[k] = dist[k * n + a]!;
      }
    }
  }

  const root = (i: number): number => {
    let r = i;
    while (parent[r] !== r) r = parent[r]!;
    return r;
  };
  for (let i = 0; i < n; i++) labels[i] = root(i);
  absorbSmallClusters(labels, embeddings, dim, options.minClusterSize ?? 3, floor);
  return renumber(labels);
}

/** Folds clusters smaller than `minSize` into the closest (by centroid) larger one, keeping at least `floor` clusters. */
function absorbSmallClusters(labels: Int32Array, embeddings: Float32Array, dim: number, minSize: number, floor: number): void {
  const counts = new Map<number, number>();
  for (const label of labels) counts.set(label, (counts.get(label) ?? 0) + 1);
  const big = [...counts.entries()].filter(([, count]) => count >= minSize).sort((x, y) => y[1] - x[1]);
  if (big.length === 0 || big.length === counts.size) return;
  // Keep the largest small clusters too when the big ones alone are fewer than the floor.
  const keep = new Set(big.map(([label]) => label));
  const small = [...counts.entries()].filter(([label]) => !keep.has(label)).sort((x, y) => y[1] - x[1]);
  while (keep.size < floor && small.length > 0) keep.add(small.shift()![0]);
  const centroids = new Map<number, Float64Array>();
  for (const label of keep) centroids.set(label, new Float64Array(dim));
  labels.forEach((label, i) => {
    const c = centroids.get(label);
    if (c) for (let k = 0; k < dim; k++) c[k] = c[k]! + embeddings[i * dim + k]!;
  });
  labels.forEach((label, i) => {
    if (keep.has(label)) return;
    let bestLabel = label;
    let bestScore = Number.NEGATIVE_INFINITY;
    for (const [candidate, c] of centroids) {
      let dot = 0;
      let norm = 0;
      for (let k = 0; k < dim; k++) {
        dot += c[k]! * embeddings[i * dim + k]!;
        norm += c[k]! * c[k]!;
      }
      const score = dot / (Math.sqrt(norm) || 1);
      if (score > bestScore) {
        bestScore = score;
        bestLabel = candidate;
      }
    }
    labels[i] = bestLabel;
  });
}

/** Relabels to 0..k-1 in order of first appearance. */
function renumber(labels: Int32Array): Int32Array {
  const map = new Map<number, number>();
  for (let i = 0; i < labels.length; i++) {
    let next = map.get(labels[i]!);
    if (next === undefined) {
      next = map.size;
      map.set(labels[i]!, next);
    }
    labels[i] = next;
  }
  return labels;
}
