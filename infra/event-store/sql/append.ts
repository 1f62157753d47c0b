/**
 * Appends with group commit: appends made while earlier batches are in flight wait and go together in the
 * next statement (append_batch), each checked against its expected revision in the database; linked
 * groups are written all or nothing; inline projections are applied in the same transaction.
 */
import { randomUUID } from 'node:crypto';
import type { EventMetadata, NewEvent, RecordedEvent } from '../../../events/envelope.ts';
import type { SqlExecutor } from '../../sql/port.ts';
import {
  type AppendResult,
  ConcurrencyError,
  DuplicateEventError,
  type ExpectedRevision,
  type LinkedAppend,
  matchesFilter,
} from '../port.ts';
import { INT4_MAX, UUID } from './rows.ts';
import type { InlineProjection, SqlContext } from './types.ts';

interface QueuedAppend {
  stream: string;
  expected: ExpectedRevision;
  /** `g`: the link of an all-or-nothing group (appendLinked). */
  item: { s: string; x: string; r: number | null; e: StoredPayload[]; g?: string };
  attempt: number;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}
interface StoredPayload {
  id: string;
  type: string;
  schemaVersion: number;
  data: unknown;
  metadata: EventMetadata;
}
type ItemResult =
  | { next: number; positions: Array<number | string>; replayed?: boolean; error?: undefined }
  | { error: 'AC001' | 'AC002' | 'AC003'; detail: string }
  /** Another item of its linked group was refused (detail: that item's code): nothing of the group is written. */
  | { error: 'AC004'; detail: 'AC001' | 'AC002' | 'AC003' };

/** An item of a linked group not written because another item of the group was refused. */
class LinkRefused extends Error {}

interface DbError {
  code?: string;
  detail?: string;
  constraint?: string;
  constraint_name?: string;
}

/** The events a batch wrote, as readers will see them (idempotent replays and refusals left out). */
const recordedEvents = (batch: QueuedAppend[], out: { items: ItemResult[]; at: string }) => {
  const written: RecordedEvent[] = [];
  out.items.forEach((r, i) => {
    if (r.error || r.replayed) return;
    const { stream, item } = batch[i]!;
    const first = Number(r.next) - item.e.length + 1;
    for (const [k, e] of item.e.entries()) {
      written.push({
        ...e,
        stream,
        revision: first + k,
        position: Number(r.positions[k]),
        occurredAt: out.at,
      });
    }
  });
  return written;
};

export interface GroupCommitOptions {
  inline: InlineProjection[];
  maxBatch: number;
  maxInFlight: number;
  autoAnalyze: boolean;
}

export class GroupCommit {
  /** Events written since the last ANALYZE, and the table's size then (autoAnalyze). */
  #unanalyzed = 0;
  #analyzedRows = 0;
  #analyzing: Promise<void> | null = null;
  #queue: QueuedAppend[] = [];
  #inFlight = 0;
  #flushScheduled = false;
  #closed = false;
  readonly #inline: InlineProjection[];
  readonly #maxBatch: number;
  readonly #maxInFlight: number;
  readonly #autoAnalyze: boolean;

  /** `onWritten` runs after every commit that wrote events (the store wakes its readers). */
  constructor(
    private readonly db: SqlContext,
    options: GroupCommitOptions,
    private readonly onWritten: () => void,
  ) {
    this.#inline = options.inline;
    this.#maxBatch = options.maxBatch;
    this.#maxInFlight = options.maxInFlight;
    this.#autoAnalyze = options.autoAnalyze;
  }

  async append(
    stream: string,
    events: NewEvent[],
    options: { expectedRevision?: ExpectedRevision } = {},
  ): Promise<AppendResult> {
    const queued = this.#enqueue(this.#checked(stream, events, options.expectedRevision ?? 'any'));
    this.#scheduleFlush();
    return queued;
  }

  /** Each item is checked against its stream as it was before the group (one stream twice is refused). */
  async appendLinked(items: LinkedAppend[]): Promise<AppendResult[]> {
    const link = randomUUID();
    // Every item's arguments are checked before any is queued: a group is never queued in part.
    const checked = items.map((i) => this.#checked(i.stream, i.events, i.expectedRevision ?? 'any', link));
    const queued = checked.map((c) => this.#enqueue(c));
    this.#scheduleFlush();
    const settled = await Promise.allSettled(queued);
    const failures = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    // The refused item's own error says why; the others only say that they went with it.
    if (failures.length) throw failures.find((e) => !(e instanceof LinkRefused)) ?? failures[0];
    return settled.map((r) => (r as PromiseFulfilledResult<AppendResult>).value);
  }

  /** One append's arguments, checked, as the batch statement takes them (in `link`'s group, if any). */
  #checked(
    stream: string,
    events: NewEvent[],
    expected: ExpectedRevision,
    link?: string,
  ): Pick<QueuedAppend, 'stream' | 'expected' | 'item'> {
    if (typeof stream !== 'string' || stream.length === 0)
      throw new TypeError('stream must be a non-empty string');
    if (
      typeof expected === 'number' &&
      (!Number.isInteger(expected) || expected < 0 || expected > INT4_MAX)
    ) {
      throw new TypeError(`expectedRevision must be a non-negative integer, got ${expected}`);
    }
    const payload = events.map((e) => {
      if (typeof e.id !== 'string' || !UUID.test(e.id))
        throw new TypeError(`event id must be a uuid, got "${e.id}"`);
      if (typeof e.type !== 'string' || e.type.length === 0)
        throw new TypeError('event type must be a non-empty string');
      return {
        id: e.id,
        type: e.type,
        schemaVersion: e.schemaVersion ?? 1,
        data: e.data === undefined ? null : e.data,
        metadata: e.metadata,
      };
    });
    return {
      stream,
      expected,
      item: {
        s: stream,
        x: typeof expected === 'number' ? 'exact' : expected,
        r: typeof expected === 'number' ? expected : null,
        e: payload,
        ...(link ? { g: link } : {}),
      },
    };
  }

  #enqueue(append: Pick<QueuedAppend, 'stream' | 'expected' | 'item'>): Promise<AppendResult> {
    return new Promise<AppendResult>((resolve, reject) => {
      this.#queue.push({ ...append, attempt: 1, resolve, reject });
    });
  }

  /**
   * Group commit: appends made while earlier batches are in flight wait and go together in the next
   * statement (append_batch), so a busy store spends one statement, one commit and one WAL flush on many
   * appends, and an idle one sends each append at once (after the current microtask, which lets the
   * appends of one tick share a batch).
   */
  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#inFlight >= this.#maxInFlight || this.#queue.length === 0) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      while (this.#inFlight < this.#maxInFlight && this.#queue.length > 0) {
        let size = Math.min(this.#maxBatch, this.#queue.length);
        // A linked group goes whole in one batch.
        const link = this.#queue[size - 1]!.item.g;
        while (link && this.#queue[size]?.item.g === link) size++;
        const batch = this.#queue.splice(0, size);
        this.#inFlight++;
        void this.#write(batch).finally(() => {
          this.#inFlight--;
          this.#scheduleFlush();
        });
      }
    });
  }

  async #write(batch: QueuedAppend[]): Promise<void> {
    let out: { items: ItemResult[]; at: string };
    try {
      out = await this.#appendBatch(batch);
    } catch (err) {
      // A linked group stays together.
      const units = new Map<unknown, QueuedAppend[]>();
      for (const a of batch) units.set(a.item.g ?? a, [...(units.get(a.item.g ?? a) ?? []), a]);
      if (units.size > 1) {
        // One append broke the whole statement (say an id a concurrent transaction inserted first): each
        // goes again on its own, and only the guilty one fails.
        await Promise.all([...units.values()].map((unit) => this.#write(unit)));
        return;
      }
      const [a] = batch as [QueuedAppend];
      const error = await this.#mapError(err, a.stream, a.expected);
      for (const member of batch) member.reject(error);
      return;
    }
    let wrote = false;
    let written = 0;
    out.items.forEach((r, i) => {
      const a = batch[i]!;
      const code = r.error === 'AC004' ? r.detail : r.error;
      if (code === 'AC003' && a.attempt < 10) {
        a.attempt++; // see append_locked: a new transaction will do (a linked group goes again whole)
        this.#queue.push(a);
      } else if (r.error === 'AC004') {
        a.reject(new LinkRefused(`stream ${a.stream}: not written, another append of its group was refused`));
      } else if (r.error) {
        a.reject(this.#refusal(r.error, r.detail, a.stream, a.expected));
      } else {
        wrote ||= a.item.e.length > 0 && !r.replayed;
        if (!r.replayed) written += a.item.e.length;
        a.resolve({ nextExpectedRevision: Number(r.next), positions: r.positions.map(Number) });
      }
    });
    if (wrote) this.onWritten();
    if (written > 0) this.#maybeAnalyze(written);
  }

  /** autoAnalyze: refreshes the planner's statistics once enough was written (at most one at a time). */
  #maybeAnalyze(written: number): void {
    if (!this.#autoAnalyze) return;
    this.#unanalyzed += written;
    if (this.#analyzing || this.#closed || this.#unanalyzed < 500 + this.#analyzedRows / 10) return;
    this.#analyzedRows += this.#unanalyzed;
    this.#unanalyzed = 0;
    this.#analyzing = this.db.driver
      .exec(`ANALYZE ${this.db.s}.events`)
      .catch(() => {}) // statistics are an optimisation: the next threshold tries again
      .finally(() => {
        this.#analyzing = null;
      });
  }

  /** One statement; inside a transaction with the inline projections when some of them are concerned. */
  async #appendBatch(batch: QueuedAppend[]): Promise<{ items: ItemResult[]; at: string }> {
    const text = `SELECT ${this.db.s}.append_batch($1::text::jsonb)::text AS r`;
    const params = [JSON.stringify(batch.map((a) => a.item))];
    const parse = (rows: Record<string, unknown>[]) =>
      JSON.parse(String(rows[0]!.r)) as { items: ItemResult[]; at: string };
    const concerned = this.#inline.filter((p) =>
      batch.some((a) => a.item.e.some((e) => matchesFilter(p.filter, { stream: a.stream, ...e }))),
    );
    if (concerned.length === 0) return parse(await this.db.driver.query(text, params));
    return this.db.driver.transaction(async (query) => {
      // Planned for each batch's own rows: a plan cached while the read model was small would scan it whole.
      const tx: SqlExecutor = {
        query: async <Row>(t: string, p: unknown[] = []) => (await query(t, p, { oneOff: true })) as Row[],
      };
      const appended = query(text, params);
      const streams = [...new Set(batch.map((a) => a.stream))];
      const prefetched = concerned.map((p) => {
        const prefix = p.filter?.streamPrefix;
        const read = p.prefetch?.(prefix ? streams.filter((s) => s.startsWith(prefix)) : streams, tx);
        read?.catch(() => {}); // fails with the append when the transaction does; the append's error is the one
        return read;
      });
      const out = parse(await appended);
      const written = recordedEvents(batch, out);
      for (const [i, p] of concerned.entries()) {
        const events = written.filter((e) => matchesFilter(p.filter, e));
        if (events.length > 0) await p.applyBatch(events, tx, await prefetched[i]);
      }
      return out;
    });
  }

  #refusal(code: 'AC001' | 'AC002' | 'AC003', detail: string, stream: string, expected: ExpectedRevision) {
    if (code === 'AC001') {
      const actual = Number(detail);
      return new ConcurrencyError(stream, expected, actual < 0 ? 'no_stream' : actual);
    }
    if (code === 'AC002') return new DuplicateEventError(detail);
    return new Error(`stream ${stream}: could not be appended in log order after 10 attempts`);
  }

  async #mapError(err: unknown, stream: string, expected: ExpectedRevision): Promise<unknown> {
    const e = err as DbError;
    if (e.code === '23505') {
      const constraint = e.constraint_name ?? e.constraint ?? '';
      if (constraint === 'events_id_unique') {
        // e.g. two events with one id in the batch, or a concurrent append of the id to another stream
        return new DuplicateEventError(/\(id\)=\(([^)]+)\)/.exec(e.detail ?? '')?.[1] ?? 'unknown');
      }
      if (constraint === 'events_stream_revision_unique') {
        // Cannot happen while every appender goes through append_events (it locks the stream) in READ
        // COMMITTED; a raw unique violation must never reach callers as such.
        const rows = await this.db.driver.query(
          `SELECT max(revision) AS revision FROM ${this.db.s}.events WHERE stream = $1`,
          [stream],
        );
        const actual = rows[0]?.revision == null ? -1 : Number(rows[0].revision);
        return new ConcurrencyError(stream, expected, actual < 0 ? 'no_stream' : actual);
      }
    }
    return err;
  }

  /** Waits for a statistics refresh in flight; nothing new starts. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#analyzing;
  }
}
