/**
 * Responses remembered by `Idempotency-Key`: a retried POST gets the first request's answer instead of
 * being carried out again, on any edge process that shares the store (Redis, or the read-model database).
 */

/** What is kept of an answer to replay it. */
export interface StoredResponse {
  status: number;
  contentType: string;
  body: string;
}

/**
 * What `claim` found: the caller now holds the key (`claimed`: carry the request out, then `complete` or
 * `release`), another request holds it and is still running (`pending`), or it ran (`done`). The
 * fingerprint tells whether the holder's request was the same one.
 */
export type Claim =
  | { kind: 'claimed' }
  | { kind: 'pending'; fingerprint: string }
  | { kind: 'done'; fingerprint: string; response: StoredResponse };

export interface IdempotencyStore {
  readonly kind: string;
  /** Takes `key` for a request with `fingerprint` for `pendingMs` (a crashed holder's claim runs out). */
  claim(key: string, fingerprint: string, pendingMs: number): Promise<Claim>;
  /** Records the answer, kept for `ttlMs`. */
  complete(key: string, fingerprint: string, response: StoredResponse, ttlMs: number): Promise<void>;
  /** Lets go of a claim whose request failed on the server's side: a retry carries it out again. */
  release(key: string): Promise<void>;
  close(): Promise<void>;
}
