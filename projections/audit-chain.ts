/**
 * The audit trail's hash chain: an entry's canonical form (RFC 8785), its hash
 * sha256(previous entry's hash || canonical form), and the walk that finds the first entry whose chain breaks.
 */
import { createHash } from 'node:crypto';
import type { SqlExecutor } from '../infra/sql/port.ts';

/** One command, accepted or refused, as the audit read model keeps it (no secrets: see events/secrets.ts). */
export interface AuditEntry {
  /** The id of the event it was read from: the command's first event, or its CommandRefused. */
  id: string;
  tenant: string;
  /** 1, 2, 3... per tenant, in log order. */
  seq: number;
  /** When the log recorded it (ISO 8601, UTC, milliseconds). */
  at: string;
  principal: string;
  /** The API key's id when the principal is a key (`apikey:<tenant>/<keyId>`). */
  keyId: string | null;
  commandType: string;
  /** The command's id (its events' causation id): a retried request with the same id is one entry. */
  commandId: string;
  /** The stream the command was for (null: refused before one was known). */
  stream: string | null;
  outcome: 'accepted' | 'refused';
  /** Why it was refused: `<status>: <message>`. */
  reason: string | null;
  requestId: string | null;
  source: string | null;
}

/** The previous hash of a tenant's first entry. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * The entry as its hash covers it: every field, in RFC 8785 canonical JSON. For this flat shape (strings,
 * an integer, nulls) that is JSON.stringify with the keys in code-unit order, which RFC 8785 builds on; the
 * unit test holds it equal to the `canonicalize` package, at a fraction of its cost per entry.
 */
export const canonicalEntry = (e: AuditEntry): string =>
  JSON.stringify({
    at: e.at,
    commandId: e.commandId,
    commandType: e.commandType,
    id: e.id,
    keyId: e.keyId,
    outcome: e.outcome,
    principal: e.principal,
    reason: e.reason,
    requestId: e.requestId,
    seq: e.seq,
    source: e.source,
    stream: e.stream,
    tenant: e.tenant,
  });

export const chainHash = (previousHash: string, entry: AuditEntry): string =>
  createHash('sha256').update(previousHash).update(canonicalEntry(entry)).digest('hex');

/** A row of rm_audit as the queries below select it. */
export interface AuditRow {
  id: string;
  tenant: string;
  seq: string | number;
  at: string;
  principal: string;
  key_id: string | null;
  command_type: string;
  command_id: string;
  stream: string | null;
  outcome: string;
  reason: string | null;
  request_id: string | null;
  source: string | null;
  prev_hash: string;
  hash: string;
}

/** The columns, with `at` formatted exactly as the entry was hashed. */
export const AUDIT_COLUMNS = `id, tenant, seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at,
  principal, key_id, command_type, command_id, stream, outcome, reason, request_id, source, prev_hash, hash`;

export const entryOfRow = (r: AuditRow): AuditEntry => ({
  id: r.id,
  tenant: r.tenant,
  seq: Number(r.seq),
  at: r.at,
  principal: r.principal,
  keyId: r.key_id,
  commandType: r.command_type,
  commandId: r.command_id,
  stream: r.stream,
  outcome: r.outcome as AuditEntry['outcome'],
  reason: r.reason,
  requestId: r.request_id,
  source: r.source,
});

export type ChainReport =
  | { tenant: string; ok: true; entries: number }
  | { tenant: string; ok: false; entries: number; broken: { id: string; seq: number; reason: string } };

/**
 * Walks a tenant's chain from its first entry, a page at a time, and reports the first entry that breaks
 * it: a gap in the sequence, a previous hash that is not the previous entry's, or a hash that is not its
 * content's. `entries`: how many were found sound before it.
 */
export const verifyChain = async (db: SqlExecutor, tenant: string, pageSize = 1000): Promise<ChainReport> => {
  let previous = GENESIS_HASH;
  let expected = 1;
  for (;;) {
    const rows = await db.query<AuditRow>(
      `SELECT ${AUDIT_COLUMNS} FROM rm_audit WHERE tenant = $1 AND seq >= $2 ORDER BY seq LIMIT $3`,
      [tenant, expected, pageSize],
    );
    for (const row of rows) {
      const entry = entryOfRow(row);
      const broken = (reason: string): ChainReport => ({
        tenant,
        ok: false,
        entries: expected - 1,
        broken: { id: entry.id, seq: entry.seq, reason },
      });
      if (entry.seq !== expected) {
        return broken(`seq ${entry.seq} follows seq ${expected - 1}: the entries between are missing`);
      }
      if (row.prev_hash !== previous) {
        return broken(
          expected === 1
            ? 'the first entry does not start the chain (its prev_hash is not the genesis hash)'
            : `its prev_hash is not the hash of entry ${expected - 1}: that entry's hash was rewritten, or this one was changed`,
        );
      }
      if (chainHash(previous, entry) !== row.hash) {
        return broken('its hash does not match its content: the entry was changed after it was recorded');
      }
      previous = row.hash;
      expected++;
    }
    if (rows.length < pageSize) return { tenant, ok: true, entries: expected - 1 };
  }
};
