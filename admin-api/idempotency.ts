/**
 * `Idempotency-Key` on every POST and PATCH of the admin and read APIs: a retried request gets the first
 * one's answer (status and body, with `Idempotent-Replayed: true`) instead of being carried out again.
 *
 * Keys are scoped to the caller (tenant and principal), the method and the path, and kept for `ttlMs`
 * (AGENTCORE_IDEMPOTENCY_TTL_S, 24 h by default). A retry that arrives while the first is still running
 * waits for its answer (up to `waitMs`, then 409); the same key with a different body is refused (422).
 * An answer of 5xx is not kept, so a retry after a server-side failure runs again; answers over
 * `maxStoredBytes` are not kept either (the retry runs again and the command's own idempotency decides).
 */
import { createHash } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { EdgeEnv } from '../a2a-edge/auth.ts';
import type { IdempotencyStore } from '../infra/idempotency/port.ts';

export interface IdempotencyOptions {
  ttlMs: number;
  /** How long a claim holds when its holder never answers (a crashed edge). */
  pendingMs?: number;
  /** How long a concurrent retry waits for the first request's answer. */
  waitMs?: number;
  maxStoredBytes?: number;
}

const KEY = /^[\x21-\x7e]{1,200}$/;
const sha256 = (...parts: Array<string | Uint8Array>) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\u0000');
  return h.digest('hex');
};

const problem = (code: number, status: string, message: string) => ({ error: { code, status, message } });

export const idempotencyKeys = (
  store: IdempotencyStore,
  { ttlMs, pendingMs = 60_000, waitMs = 15_000, maxStoredBytes = 1024 * 1024 }: IdempotencyOptions,
): MiddlewareHandler<EdgeEnv> =>
  async function idempotencyKeys(c, next) {
    const key = c.req.header('idempotency-key');
    const holder = c.get('holder');
    if (key === undefined || !holder || (c.req.method !== 'POST' && c.req.method !== 'PATCH')) return next();
    if (!KEY.test(key)) {
      return c.json(
        problem(400, 'INVALID_ARGUMENT', 'Idempotency-Key must be 1-200 visible ASCII characters'),
        400,
      );
    }
    const scope = sha256(holder.tenant, holder.principal, c.req.method, c.req.path, key);
    // Path and query, not the whole URL: the same request through another edge (another host) is the same.
    const { pathname, search } = new URL(c.req.url);
    const fingerprint = sha256(pathname + search, new Uint8Array(await c.req.arrayBuffer()));
    const deadline = Date.now() + waitMs;
    for (;;) {
      const claim = await store.claim(scope, fingerprint, pendingMs);
      if (claim.kind !== 'claimed' && claim.fingerprint !== fingerprint) {
        return c.json(
          problem(422, 'INVALID_ARGUMENT', `Idempotency-Key ${key} was already used for a different request`),
          422,
        );
      }
      if (claim.kind === 'done') {
        const { status, contentType, body } = claim.response;
        return c.body(body, status as 200, { 'content-type': contentType, 'idempotent-replayed': 'true' });
      }
      if (claim.kind === 'claimed') break;
      if (Date.now() > deadline) {
        return c.json(
          problem(409, 'ABORTED', `a request with Idempotency-Key ${key} is still in progress; retry later`),
          409,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    try {
      await next();
    } catch (error) {
      await store.release(scope);
      throw error;
    }
    const res = c.res;
    const type = res.headers.get('content-type') ?? '';
    if (res.status >= 500 || type.startsWith('text/event-stream')) return void (await store.release(scope));
    const body = await res.clone().text();
    if (Buffer.byteLength(body) > maxStoredBytes) return void (await store.release(scope));
    await store.complete(scope, fingerprint, { status: res.status, contentType: type, body }, ttlMs);
  };
