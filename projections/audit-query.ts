/** The audit read model's page query: a tenant's entries, newest first, filtered, after a keyset (seq). */
import type { SqlExecutor } from '../infra/sql/port.ts';
import { AUDIT_COLUMNS, type AuditEntry, type AuditRow, entryOfRow } from './audit-chain.ts';

export interface AuditQuery {
  tenant: string;
  principal?: string | undefined;
  commandType?: string | undefined;
  outcome?: AuditEntry['outcome'] | undefined;
  /** Only entries whose target stream starts with this. */
  streamPrefix?: string | undefined;
  /** Recorded at or after this instant. */
  from?: string | undefined;
  /** Recorded before this instant. */
  to?: string | undefined;
  /** The page starts after this entry (newest first: entries with a smaller seq). */
  beforeSeq?: number | undefined;
  limit: number;
}

/** An entry as the read API serves it: the chain's fields included, so a client can check it too. */
export type AuditView = AuditEntry & { prevHash: string; hash: string };

export const listAuditEntries = async (db: SqlExecutor, q: AuditQuery): Promise<AuditView[]> => {
  const where = ['tenant = $1'];
  const params: unknown[] = [q.tenant];
  const add = (clause: (n: string) => string, value: unknown) => {
    params.push(value);
    where.push(clause(`$${params.length}`));
  };
  if (q.principal !== undefined) add((n) => `principal = ${n}`, q.principal);
  if (q.commandType !== undefined) add((n) => `command_type = ${n}`, q.commandType);
  if (q.outcome !== undefined) add((n) => `outcome = ${n}`, q.outcome);
  if (q.streamPrefix !== undefined) add((n) => `starts_with(stream, ${n})`, q.streamPrefix);
  if (q.from !== undefined) add((n) => `at >= ${n}::timestamptz`, q.from);
  if (q.to !== undefined) add((n) => `at < ${n}::timestamptz`, q.to);
  if (q.beforeSeq !== undefined) add((n) => `seq < ${n}`, q.beforeSeq);
  params.push(q.limit);
  const rows = await db.query<AuditRow>(
    `SELECT ${AUDIT_COLUMNS} FROM rm_audit WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT $${params.length}`,
    params,
  );
  return rows.map((r) => ({ ...entryOfRow(r), prevHash: r.prev_hash, hash: r.hash }));
};
