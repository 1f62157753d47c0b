/**
 * The SQL event store shared by the PostgreSQL (postgres.js) and PGlite adapters; each adapter only supplies a
 * `SqlDriver`. Its parts, one file per operation, are in sql/: the schema (schema.ts), appends with group
 * commit (append.ts), reads (read.ts) and the catch-up-then-live subscription (subscribe.ts). The design
 * (and why readers filter on `tx_id < pg_snapshot_xmin(...)`) is explained in postgres.ts.
 */
import { randomUUID } from 'node:crypto';
import type { NewEvent, RecordedEvent } from '../../events/envelope.ts';
import type {
  AppendResult,
  EventStore,
  ExpectedRevision,
  LinkedAppend,
  ReadAllOptions,
  ReadStreamOptions,
  SubscribeOptions,
  Subscription,
} from './port.ts';
import { GroupCommit } from './sql/append.ts';
import { readAll, readHead, readStream, readStreams } from './sql/read.ts';
import { channelFor, quoteIdent } from './sql/schema.ts';
import { type LiveLog, subscribe, Wakeup } from './sql/subscribe.ts';
import type { SqlDriver, SqlStoreOptions } from './sql/types.ts';

export { PAGE_MAX_BYTES } from './sql/rows.ts';
export { channelFor, migrationSql, quoteIdent } from './sql/schema.ts';
export type { InlineProjection, SqlDriver, SqlStoreOptions } from './sql/types.ts';

export class SqlEventStore implements EventStore {
  readonly kind: string;
  readonly #driver: SqlDriver;
  readonly #channel: string;
  readonly #wakeup = new Wakeup();
  readonly #live: LiveLog;
  readonly #appends: GroupCommit;
  #listening: Promise<() => Promise<void>> | null = null;
  #notifying: Promise<void> | null = null;
  #notifyAgain = false;
  /** NOTIFY payload of this store's appends. */
  readonly #origin: string;
  readonly #notify: boolean;
  #closed = false;

  constructor(kind: string, driver: SqlDriver, schema: string, options: SqlStoreOptions = {}) {
    this.kind = kind;
    this.#driver = driver;
    this.#channel = channelFor(schema);
    this.#origin = options.origin ?? randomUUID();
    this.#notify = options.notify ?? true;
    const db = { driver, s: quoteIdent(schema) };
    this.#appends = new GroupCommit(
      db,
      {
        inline: options.inline ?? [],
        maxBatch: options.maxBatch ?? 200,
        maxInFlight: options.maxInFlight ?? 2,
        autoAnalyze: options.autoAnalyze ?? false,
      },
      () => this.#appended(),
    );
    this.#live = {
      ...db,
      wakeup: this.#wakeup,
      pollMs: options.pollIntervalMs ?? 500,
      pageSize: options.pageSize ?? 500,
      listen: () => this.#listen(),
      subscriptions: new Set(),
    };
  }

  append(
    stream: string,
    events: NewEvent[],
    options: { expectedRevision?: ExpectedRevision } = {},
  ): Promise<AppendResult> {
    return this.#appends.append(stream, events, options);
  }

  /** Each item is checked against its stream as it was before the group (one stream twice is refused). */
  appendLinked(items: LinkedAppend[]): Promise<AppendResult[]> {
    return this.#appends.appendLinked(items);
  }

  readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    return readStream(this.#live, stream, options);
  }

  readStreams(streams: string[]): Promise<Map<string, RecordedEvent[]>> {
    return readStreams(this.#live, streams);
  }

  readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    return readAll(this.#live, options);
  }

  head(): Promise<number> {
    return readHead(this.#live);
  }

  subscribeAll(options: SubscribeOptions = {}): Subscription {
    if (this.#closed) throw new Error('event store is closed');
    return subscribe(this.#live, options);
  }

  /**
   * After a commit: wake this store's subscriptions, and NOTIFY the other processes' stores. The NOTIFY
   * is a statement of its own, not part of the append transaction: PostgreSQL serialises the commits of
   * notifying transactions (a global lock held through the WAL flush), which halved append throughput.
   * Coalesced: at most one in flight and one pending. Should this process die between its commit and the
   * NOTIFY, the other processes' subscriptions still get the event from their poll.
   */
  #appended(): void {
    this.#wakeup.wake();
    if (!this.#notify) return;
    if (this.#notifying) {
      this.#notifyAgain = true;
      return;
    }
    this.#notifying = (async () => {
      try {
        do {
          this.#notifyAgain = false;
          await this.#driver.query(`SELECT pg_notify($1, $2)`, [this.#channel, this.#origin]);
        } while (this.#notifyAgain && !this.#closed);
      } catch {
        // a lost notification only delays other processes' subscriptions until their next poll
      } finally {
        this.#notifying = null;
      }
    })();
  }

  #listen(): Promise<unknown> {
    if (!this.#listening) {
      const attempt = this.#driver.listen(this.#channel, (origin) => {
        if (origin !== this.#origin) this.#wakeup.wake(); // this store's own appends woke it already
      });
      this.#listening = attempt;
      attempt.catch(() => {
        if (this.#listening === attempt) this.#listening = null; // let the next subscription try again
      });
    }
    return this.#listening;
  }

  /** Ends every subscription and stops listening. The database connection itself belongs to the caller. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#live.subscriptions].map((s) => s.close()));
    await this.#notifying;
    await this.#appends.close();
    const listening = this.#listening;
    this.#listening = null;
    if (listening) await (await listening.catch(() => null))?.();
  }
}
