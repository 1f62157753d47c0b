/** Idempotency keys in Redis (ioredis): one key per request, SET NX for the claim, PX for every expiry. */
import { Redis } from 'ioredis';
import type { Claim, IdempotencyStore, StoredResponse } from './port.ts';

type Entry = { fingerprint: string; response?: StoredResponse };

export const redisIdempotencyStore = (url: string, prefix: string): IdempotencyStore => {
  const redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2, enableOfflineQueue: true });
  const k = (key: string) => `${prefix}:idem:${key}`;
  return {
    kind: 'redis',
    async claim(key, fingerprint, pendingMs): Promise<Claim> {
      const pending: Entry = { fingerprint };
      const taken = await redis.set(k(key), JSON.stringify(pending), 'PX', pendingMs, 'NX');
      if (taken === 'OK') return { kind: 'claimed' };
      const raw = await redis.get(k(key));
      // Expired between the two calls: claim again rather than report a holder that is gone.
      if (raw === null) return this.claim(key, fingerprint, pendingMs);
      const entry = JSON.parse(raw) as Entry;
      return entry.response
        ? { kind: 'done', fingerprint: entry.fingerprint, response: entry.response }
        : { kind: 'pending', fingerprint: entry.fingerprint };
    },
    async complete(key, fingerprint, response, ttlMs) {
      const done: Entry = { fingerprint, response };
      await redis.set(k(key), JSON.stringify(done), 'PX', ttlMs);
    },
    async release(key) {
      await redis.del(k(key));
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
};
