/**
 * Idempotency keys in the read-model database (PostgreSQL or PGlite), for hubs without Redis: one row per
 * key, claimed by INSERT ... ON CONFLICT DO NOTHING, so concurrent edges agree on a single holder.
 */
import type { SqlDatabase } from '../sql/port.ts';
import type { Claim, IdempotencyStore, StoredResponse } from './port.ts';

export const IDEMPOTENCY_DDL = `
CREATE TABLE IF NOT EXISTS idempotency_keys (
  key text PRIMARY KEY,
  fingerprint text NOT NULL,
  status int,
  content_type text,
  body text,
  expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS idempotency_keys_expiry ON idempotency_keys (expires_at);`;

interface Row {
  fingerprint: string;
  status: number | null;
  content_type: string | null;
  body: string | null;
}

export const sqlIdempotencyStore = async (db: SqlDatabase): Promise<IdempotencyStore> => {
  await db.exec(IDEMPOTENCY_DDL);
  let claims = 0;
  const store: IdempotencyStore = {
    kind: db.kind,
    async claim(key, fingerprint, pendingMs): Promise<Claim> {
      // Expired rows go now and then, not on every claim: a bounded delete keeps each claim cheap.
      if (++claims % 100 === 0) {
        await db.query(
          'DELETE FROM idempotency_keys WHERE key IN (SELECT key FROM idempotency_keys WHERE expires_at < now() LIMIT 1000)',
        );
      }
      await db.query('DELETE FROM idempotency_keys WHERE key = $1 AND expires_at < now()', [key]);
      const taken = await db.query(
        `INSERT INTO idempotency_keys (key, fingerprint, expires_at)
         VALUES ($1, $2, now() + ($3::text || ' milliseconds')::interval)
         ON CONFLICT (key) DO NOTHING RETURNING key`,
        [key, fingerprint, String(pendingMs)],
      );
      if (taken.length > 0) return { kind: 'claimed' };
      const [row] = await db.query<Row>(
        'SELECT fingerprint, status, content_type, body FROM idempotency_keys WHERE key = $1',
        [key],
      );
      if (!row) return store.claim(key, fingerprint, pendingMs); // released meanwhile
      return row.status === null
        ? { kind: 'pending', fingerprint: row.fingerprint }
        : {
            kind: 'done',
            fingerprint: row.fingerprint,
            response: { status: row.status, contentType: row.content_type ?? '', body: row.body ?? '' },
          };
    },
    async complete(key, fingerprint, response: StoredResponse, ttlMs) {
      await db.query(
        `UPDATE idempotency_keys SET fingerprint = $2, status = $3, content_type = $4, body = $5,
                expires_at = now() + ($6::text || ' milliseconds')::interval WHERE key = $1`,
        [key, fingerprint, response.status, response.contentType, response.body, String(ttlMs)],
      );
    },
    async release(key) {
      await db.query('DELETE FROM idempotency_keys WHERE key = $1 AND status IS NULL', [key]);
    },
    async close() {},
  };
  return store;
};
