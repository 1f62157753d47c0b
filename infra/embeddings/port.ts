/**
 * The embeddings port: turns texts into fixed-size, L2-normalised vectors for semantic search (skill
 * discovery, routing, memory). Adapters: offline.ts (a model shipped in an npm package, no network) and
 * openai.ts (any OpenAI-compatible /v1/embeddings endpoint). test/contract/embeddings.contract.ts is the
 * contract every adapter passes.
 *
 * Contract, for every adapter:
 * - `embed(texts)` resolves with one vector per text, in the same order, each of length `dimensions`,
 *   with |v| = 1 (so cosine similarity is a dot product, and pgvector's `<=>` / `<#>` agree).
 * - `embed([])` resolves with `[]` without loading a model or calling a service.
 * - The same text gives the same vector (to float32 precision), whatever batch it is part of.
 * - A text that is empty or whitespace only is embedded as one space (`BLANK_TEXT`): it gets a valid unit
 *   vector, never an error (OpenAI rejects empty strings) and never a zero vector (cosine with it is NaN).
 * - Failures reject with an `EmbeddingsError` that names the adapter, the model and the cause.
 */
export interface Embeddings {
  /** Length of every vector `embed` returns. */
  readonly dimensions: number;
  /** The model's name, recorded beside stored vectors: vectors of different models never mix. */
  readonly model: string;
  embed(texts: string[]): Promise<number[][]>;
}

export class EmbeddingsError extends Error {
  override readonly name = 'EmbeddingsError';
}

/** What an empty or whitespace-only text is embedded as. */
export const BLANK_TEXT = ' ';

/** Applies the blank-text rule of the contract. */
export const textForEmbedding = (text: string): string => (text.trim() === '' ? BLANK_TEXT : text);

/** A copy of `v` scaled to length 1. A zero (or non-finite) vector is an error: it has no direction. */
export const l2normalise = (v: ArrayLike<number>): number[] => {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  const norm = Math.sqrt(sum);
  if (!(norm > 0) || !Number.isFinite(norm)) {
    throw new EmbeddingsError(`cannot normalise a vector of norm ${norm} (length ${v.length})`);
  }
  return Array.from(v, (x) => x / norm);
};

/** Cosine similarity; for unit vectors it is their dot product. */
export const cosine = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  if (a.length !== b.length) throw new RangeError(`cosine of vectors of lengths ${a.length} and ${b.length}`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
};

/** Splits `items` into consecutive batches of at most `size`. */
export const batches = <T>(items: readonly T[], size: number): T[][] => {
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`batch size must be a positive integer: ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
};
