/**
 * The audit read model (rm_audit): one entry per command, accepted or refused, hash-chained per tenant
 * (projections/audit-chain.ts), derived from the log in log order so that a rebuild re-creates the same chain.
 *
 * An accepted command is read from its first event: a command's events share its id (their causation id)
 * and are appended together, so the first event of each (stream, causation id) is the command; its type is
 * the metadata's `command`, or for events written before that field existed (or by a writer that does not
 * name it) the first event's type. A refused command is its CommandRefused in `audit-<tenant>`
 * (commands/audit.ts). Runs asynchronously in the projection runner, never inline: the append pays nothing.
 */
import { CommandRefused } from '../events/audit.ts';
import type { RecordedEvent } from '../events/envelope.ts';
import type { SqlExecutor } from '../infra/sql/port.ts';
import { type AuditEntry, chainHash, GENESIS_HASH } from './audit-chain.ts';
import type { Projection } from './projection.ts';

/** An entry before the chain gives it its place. */
type Unchained = Omit<AuditEntry, 'seq'>;

/** `apikey:<tenant>/<keyId>` (a2a-edge/auth.ts) → keyId; other principals have no key. */
export const keyIdOf = (principal: string): string | null => {
  const match = /^apikey:[^/]+\/(.+)$/.exec(principal);
  return match ? match[1]! : null;
};

const at = (event: RecordedEvent) => new Date(event.occurredAt).toISOString();

/** The entry an event starts, or null when it is not the first of its command (or not one this reads). */
const entryOf = (event: RecordedEvent): Unchained | null => {
  const m = event.metadata;
  const common = {
    id: event.id,
    tenant: m.tenant,
    at: at(event),
    principal: m.principal,
    keyId: keyIdOf(m.principal),
    requestId: m.requestId ?? null,
    source: m.source ?? null,
  };
  if (event.type === 'CommandRefused') {
    const parsed = CommandRefused.shape.data.safeParse(event.data);
    if (!parsed.success) return null;
    const { command, stream, status, reason } = parsed.data;
    return {
      ...common,
      commandType: command,
      commandId: m.causationId ?? event.id,
      stream,
      outcome: 'refused',
      reason: `${status}: ${reason}`,
    };
  }
  return {
    ...common,
    commandType: m.command ?? event.type,
    commandId: m.causationId ?? event.id,
    stream: event.stream,
    outcome: 'accepted',
    reason: null,
  };
};

/**
 * The batch's new entries in log order: the first event of each (stream, command id). A command whose
 * append the previous batch began (a batch ends anywhere) was entered then: looked up in one query.
 */
const newEntries = async (events: RecordedEvent[], tx: SqlExecutor): Promise<Unchained[]> => {
  const seen = new Set<string>();
  const entries: Array<Unchained & { revision: number }> = [];
  for (const event of events) {
    // The entry's command id, known before the entry is built: a command's later events (most of the
    // log) are skipped without building one.
    const key = `${event.stream}\u0000${event.metadata.causationId ?? event.id}`;
    if (seen.has(key)) continue;
    const entry = entryOf(event);
    if (!entry) continue;
    seen.add(key);
    entries.push({ ...entry, revision: event.revision });
  }
  // A refusal is one event; an accepted command at revision 0 began its stream; and one whose stream's
  // previous event is in this batch began here (a command's events in a stream are consecutive): none of
  // these can continue the previous batch, so only the few a batch boundary cut are looked up.
  const inBatch = new Set(events.map((e) => `${e.stream}\u0000${e.revision}`));
  const maybeBegun = entries.filter(
    (e) => e.outcome === 'accepted' && e.revision > 0 && !inBatch.has(`${e.stream}\u0000${e.revision - 1}`),
  );
  const begun = new Set<string>();
  if (maybeBegun.length > 0) {
    const rows = await tx.query<{ stream: string; command_id: string }>(
      `SELECT a.stream, a.command_id FROM rm_audit a
         JOIN unnest($1::text[], $2::text[]) AS k(stream, command_id)
           ON a.stream = k.stream AND a.command_id = k.command_id`,
      [maybeBegun.map((e) => e.stream), maybeBegun.map((e) => e.commandId)],
    );
    for (const r of rows) begun.add(`${r.stream}\u0000${r.command_id}`);
  }
  return entries
    .filter((e) => !begun.has(`${e.stream}\u0000${e.commandId}`))
    .map(({ revision: _, ...entry }) => entry);
};

/** Each tenant's last entry (seq and hash), where the batch's entries continue its chain. */
const heads = async (tenants: string[], tx: SqlExecutor) => {
  const rows = await tx.query<{ tenant: string; seq: string | number; hash: string }>(
    `SELECT t.tenant, h.seq, h.hash FROM unnest($1::text[]) AS t(tenant)
       CROSS JOIN LATERAL (SELECT seq, hash FROM rm_audit WHERE tenant = t.tenant ORDER BY seq DESC LIMIT 1) h`,
    [tenants],
  );
  return new Map(rows.map((r) => [r.tenant, { seq: Number(r.seq), hash: r.hash }]));
};

const applyAuditBatch = async (events: RecordedEvent[], tx: SqlExecutor): Promise<void> => {
  const entries = await newEntries(events, tx);
  if (entries.length === 0) return;
  const last = await heads([...new Set(entries.map((e) => e.tenant))], tx);
  const rows = entries.map((unchained) => {
    const head = last.get(unchained.tenant) ?? { seq: 0, hash: GENESIS_HASH };
    const entry: AuditEntry = { ...unchained, seq: head.seq + 1 };
    const hash = chainHash(head.hash, entry);
    last.set(entry.tenant, { seq: entry.seq, hash });
    return {
      id: entry.id,
      tenant: entry.tenant,
      seq: entry.seq,
      at: entry.at,
      principal: entry.principal,
      key_id: entry.keyId,
      command_type: entry.commandType,
      command_id: entry.commandId,
      stream: entry.stream,
      outcome: entry.outcome,
      reason: entry.reason,
      request_id: entry.requestId,
      source: entry.source,
      prev_hash: head.hash,
      hash,
    };
  });
  await tx.query(
    `INSERT INTO rm_audit (id, tenant, seq, at, principal, key_id, command_type, command_id, stream, outcome,
       reason, request_id, source, prev_hash, hash)
     SELECT id, tenant, seq, at, principal, key_id, command_type, command_id, stream, outcome, reason,
       request_id, source, prev_hash, hash
       FROM jsonb_to_recordset($1::text::jsonb) AS r(id text, tenant text, seq bigint, at timestamptz,
         principal text, key_id text, command_type text, command_id text, stream text, outcome text,
         reason text, request_id text, source text, prev_hash text, hash text)`,
    [JSON.stringify(rows)],
  );
};

/** The audit trail: every command of every tenant, chained per tenant. */
export const auditProjection: Projection = {
  name: 'audit',
  batchDelayMs: 250,
  tables: ['rm_audit'],
  migrations: [
    `CREATE TABLE rm_audit (
       tenant text NOT NULL, seq bigint NOT NULL, id text NOT NULL, at timestamptz NOT NULL,
       principal text NOT NULL, key_id text, command_type text NOT NULL, command_id text NOT NULL,
       stream text, outcome text NOT NULL, reason text, request_id text, source text,
       prev_hash text NOT NULL, hash text NOT NULL, PRIMARY KEY (tenant, seq));
     CREATE INDEX rm_audit_command ON rm_audit (stream, command_id);
     CREATE INDEX rm_audit_at ON rm_audit (tenant, at);`,
  ],
  apply: (event, tx) => applyAuditBatch([event], tx),
  applyBatch: (events, tx) => applyAuditBatch(events, tx),
};
