/**
 * Embeddings from any OpenAI-compatible endpoint (OpenAI, Azure-style gateways, vLLM, Ollama, LiteLLM,
 * llama.cpp server...) through the `openai` package: POST {baseURL}/embeddings.
 *
 * Inputs go in batches (OpenAI accepts up to 2048 per request); every response is checked (one vector per
 * input, each of `dimensions`) and normalised, so a server that does not normalise still meets the port.
 */
import OpenAI from 'openai';
import { batches, type Embeddings, EmbeddingsError, l2normalise, textForEmbedding } from './port.ts';

export interface OpenAIEmbeddingsOptions {
  /** For example https://api.openai.com/v1 or http://127.0.0.1:11434/v1. */
  baseURL: string;
  /** Sent as `Authorization: Bearer`; local servers usually accept any value. */
  apiKey: string;
  model: string;
  /** Length of the vectors the model returns (or is asked for, see `requestDimensions`). */
  dimensions: number;
  /**
   * Send `dimensions` in the request, to shorten the vectors of a model that supports it
   * (text-embedding-3-*). Default: true for text-embedding-3-* models, false otherwise, since many
   * compatible servers reject the parameter.
   */
  requestDimensions?: boolean;
  /** Inputs per request (default 128). */
  batchSize?: number;
  /** 'float' (default: every compatible server has it) or 'base64' (smaller responses). */
  encodingFormat?: 'float' | 'base64';
  /** Per request (default 60 s). */
  timeoutMs?: number;
  /** Retries of a request that failed with 408/409/429/5xx or a connection error (default 2). */
  maxRetries?: number;
}

/** Decodes the base64 form: little-endian float32s. */
const fromBase64 = (b64: string): Float32Array => {
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.length % 4 !== 0) throw new EmbeddingsError(`base64 embedding of ${bytes.length} bytes`);
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
};

/** "Connection error. <- fetch failed <- connect ECONNREFUSED 127.0.0.1:1": the useful part is deep. */
const causes = (err: unknown): string => {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 5; depth++) {
    parts.push(e instanceof Error ? e.message || e.name : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(' <- ');
};

export const createOpenAIEmbeddings = (options: OpenAIEmbeddingsOptions): Embeddings => {
  const { baseURL, model, dimensions } = options;
  if (!baseURL) throw new EmbeddingsError('openai embeddings: baseURL is required');
  if (!model) throw new EmbeddingsError('openai embeddings: model is required');
  if (!Number.isInteger(dimensions) || dimensions < 1) {
    throw new EmbeddingsError(`openai embeddings: dimensions must be a positive integer, got ${dimensions}`);
  }
  const batchSize = options.batchSize ?? 128;
  batches([], batchSize);
  const requestDimensions = options.requestDimensions ?? model.startsWith('text-embedding-3');
  const encodingFormat = options.encodingFormat ?? 'float';
  const client = new OpenAI({
    baseURL,
    apiKey: options.apiKey,
    timeout: options.timeoutMs ?? 60_000,
    maxRetries: options.maxRetries ?? 2,
  });
  const where = `openai embeddings (model ${model} at ${baseURL})`;

  const embedBatch = async (input: string[]): Promise<number[][]> => {
    let response: OpenAI.CreateEmbeddingResponse;
    try {
      response = await client.embeddings.create({
        model,
        input,
        encoding_format: encodingFormat,
        ...(requestDimensions ? { dimensions } : {}),
      });
    } catch (err) {
      if (err instanceof OpenAI.APIError && err.status !== undefined) {
        const body = err.error as { message?: unknown } | undefined;
        const detail = typeof body?.message === 'string' ? body.message : err.message;
        throw new EmbeddingsError(`${where}: HTTP ${err.status}: ${detail}`, { cause: err });
      }
      throw new EmbeddingsError(`${where}: request failed: ${causes(err)}`, { cause: err });
    }
    const data = response?.data;
    if (!Array.isArray(data) || data.length !== input.length) {
      throw new EmbeddingsError(
        `${where}: expected ${input.length} embeddings, got ${Array.isArray(data) ? data.length : 'no data array'}`,
      );
    }
    const out = new Array<number[]>(input.length);
    data.forEach((item, position) => {
      const index = typeof item.index === 'number' ? item.index : position;
      const raw: unknown = item.embedding;
      const vector = typeof raw === 'string' ? fromBase64(raw) : raw;
      if (!Array.isArray(vector) && !(vector instanceof Float32Array)) {
        throw new EmbeddingsError(`${where}: embedding ${index} is not a vector`);
      }
      if (vector.length !== dimensions) {
        throw new EmbeddingsError(
          `${where}: returned ${vector.length}-dimensional vectors, but dimensions is ${dimensions}` +
            (requestDimensions ? '' : ' (set requestDimensions if the model can shorten its vectors)'),
        );
      }
      if (index < 0 || index >= input.length || out[index]) {
        throw new EmbeddingsError(`${where}: bad or repeated embedding index ${index}`);
      }
      try {
        out[index] = l2normalise(vector as ArrayLike<number>);
      } catch (err) {
        throw new EmbeddingsError(`${where}: embedding ${index}: ${(err as Error).message}`, { cause: err });
      }
    });
    return out;
  };

  return {
    dimensions,
    model,
    async embed(texts) {
      const out: number[][] = [];
      for (const batch of batches(texts.map(textForEmbedding), batchSize))
        out.push(...(await embedBatch(batch)));
      return out;
    },
  };
};
