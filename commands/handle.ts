/**
 * handle(): load a stream, decide a command on its state, append with the expected revision, retry conflicts;
 * handleLinked(): one decision and the first events of the streams it brings into being, in one append.
 */
import { randomUUID } from 'node:crypto';
import type { EventMetadata, NewEvent, RecordedEvent } from '../events/envelope.ts';
import type { EventSchemaRegistry } from '../events/upcasting.ts';
import {
  type AppendResult,
  ConcurrencyError,
  type EventStore,
  type ExpectedRevision,
} from '../infra/event-store/port.ts';
import { formatBytes } from '../infra/log-safe.ts';
import { CommandError } from './errors.ts';

/**
 * The largest event `data` a command may append, serialized (AGENTCORE_MAX_EVENT_BYTES, default 768 KiB):
 * under NATS's default max_payload (1 MiB) with room for the envelope, so every event can cross the bus.
 */
export const DEFAULT_MAX_EVENT_BYTES = 768 * 1024;
let maxEventBytes = DEFAULT_MAX_EVENT_BYTES;

/** Sets the event size limit of this process (the composition root, from the configuration). */
export const configureMaxEventBytes = (bytes: number): void => {
  maxEventBytes = bytes;
};

/**
 * Refuses a decision any of whose events is larger than the limit, before anything is written: one tenant's
 * oversized event would otherwise be read back by every consumer, and can exhaust an embedded store's
 * memory. A `validation` CommandError whose details say which event and how large (`isEventTooLarge`).
 */
export const checkEventSizes = (stream: string, events: DomainEvent[], max = maxEventBytes): void => {
  for (const event of events) {
    const bytes = Buffer.byteLength(JSON.stringify(event.data) ?? '', 'utf8');
    if (bytes <= max) continue;
    throw new CommandError(
      'validation',
      `${event.type} on ${stream} would be ${formatBytes(bytes)}, over the ${formatBytes(max)} limit of an event (AGENTCORE_MAX_EVENT_BYTES): nothing was written`,
      { reason: 'EVENT_TOO_LARGE', type: event.type, bytes, max },
    );
  }
};

export const isEventTooLarge = (error: unknown): error is CommandError =>
  error instanceof CommandError &&
  (error.details as { reason?: unknown } | undefined)?.reason === 'EVENT_TOO_LARGE';

/** An event as a decider emits it: the domain part, without the envelope. */
export interface DomainEvent<Type extends string = string, Data = unknown> {
  type: Type;
  data: Data;
}

/** A pure aggregate: no I/O, no clock, no randomness that is not passed in through the command. */
export interface Decider<Command, State, Event extends DomainEvent> {
  initialState: () => State;
  /** Returns the events the command causes, or throws a CommandError (rule violated, not found). */
  decide: (command: Command, state: State) => Event[];
  evolve: (state: State, event: Event) => State;
}

export interface CommandContext {
  tenant: string;
  principal: string;
  /** Idempotency key: a command with an id already recorded in the stream is not decided again. */
  commandId?: string;
  correlationId?: string;
  traceparent?: string;
  /** For the audit trail: the HTTP request that carried the command (X-Request-Id) and its peer address. */
  requestId?: string;
  source?: string;
}

export interface HandleResult<State> {
  state: State;
  events: RecordedEvent[];
  nextExpectedRevision: number;
  /** True when the command had already been handled and nothing new was written. */
  replayed: boolean;
}

export interface HandleOptions {
  /** Bounded retries on a concurrency conflict (state is reloaded and the command decided again). */
  maxRetries?: number;
  schemas?: EventSchemaRegistry;
  /**
   * The stream as the caller knows it (e.g. [] for a stream named by a fresh UUID): the first attempt
   * decides on it without reading; a wrong guess fails on the expected revision and is read back.
   */
  assume?: RecordedEvent[];
}

export const fold = <State, Event extends DomainEvent>(
  decider: Pick<Decider<unknown, State, Event>, 'initialState' | 'evolve'>,
  events: RecordedEvent[],
): State =>
  events.reduce((s, e) => decider.evolve(s, { type: e.type, data: e.data } as Event), decider.initialState());

/** The expected revision of an append after the stream's last revision (-1: none). */
const expectedAfter = (revision: number): ExpectedRevision => (revision < 0 ? 'no_stream' : revision);

/** A decision's events in their envelope: new ids, and the command id as their causation. */
const enveloped = (
  decided: DomainEvent[],
  context: CommandContext & { commandId: string },
  schemas?: EventSchemaRegistry,
  command?: string,
): NewEvent[] => {
  const metadata: EventMetadata = {
    tenant: context.tenant,
    principal: context.principal,
    correlationId: context.correlationId ?? context.commandId,
    causationId: context.commandId,
    ...(context.traceparent ? { traceparent: context.traceparent } : {}),
    ...(command ? { command } : {}),
    ...(context.requestId ? { requestId: context.requestId } : {}),
    ...(context.source ? { source: context.source } : {}),
  };
  return decided.map((e) => ({
    id: randomUUID(),
    type: e.type,
    data: e.data,
    // Without a registry here, the store stamps its own (infra/event-store/upcasting.ts).
    ...(schemas ? { schemaVersion: schemas.currentVersion(e.type) } : {}),
    metadata,
  }));
};

/** A command's type, when it has one (every command of the hub's deciders is `{type, ...}`). */
const typeOf = (command: unknown): string | undefined => {
  const type = (command as { type?: unknown } | null)?.type;
  return typeof type === 'string' && type ? type : undefined;
};

/** Decides; a refusal leaves with what was refused, for the audit trail (the accepted path pays nothing). */
const decideOrRefuse = <Command, State, Event extends DomainEvent>(
  decider: Decider<Command, State, Event>,
  command: Command,
  state: State,
  stream: string,
): Event[] => {
  try {
    return decider.decide(command, state);
  } catch (error) {
    if (error instanceof CommandError) error.refused ??= { command: typeOf(command) ?? 'command', stream };
    throw error;
  }
};

/** Appended events as a reader sees them, after the stream's last revision `revision`. */
const recorded = (
  stream: string,
  revision: number,
  events: NewEvent[],
  positions: number[],
): RecordedEvent[] => {
  const occurredAt = new Date().toISOString();
  return events.map((e, i) => ({
    ...e,
    stream,
    revision: revision + 1 + i,
    position: positions[i]!,
    schemaVersion: e.schemaVersion ?? 1,
    occurredAt,
  }));
};

/**
 * Load, decide, append with the expected revision; on a concurrency conflict, reload and decide again.
 * The causation id of every written event is the command id, which is what makes a retried command
 * idempotent: its earlier events are found in the stream and returned instead of deciding twice.
 *
 * @example
 * const { state, events } = await handle(store, taskStream(id), { type: 'CancelTask', at }, taskDecider, {
 *   tenant,
 *   principal,
 *   commandId: `cancel:${requestId}`, // the same request again decides nothing new
 * });
 */
export const handle = async <Command, State, Event extends DomainEvent>(
  store: EventStore,
  stream: string,
  command: Command,
  decider: Decider<Command, State, Event>,
  context: CommandContext,
  options: HandleOptions = {},
): Promise<HandleResult<State>> => {
  const commandId = context.commandId ?? randomUUID();
  const maxRetries = options.maxRetries ?? 5;
  for (let attempt = 0; ; attempt++) {
    const loaded = attempt === 0 && options.assume ? options.assume : await store.readStream(stream);
    const history = options.schemas ? loaded.map((e) => options.schemas!.upcast(e)) : loaded;
    const state = fold(decider, history);
    const revision = history.length - 1;
    const earlier = history.filter((e) => e.metadata.causationId === commandId);
    if (earlier.length > 0) return { state, events: earlier, nextExpectedRevision: revision, replayed: true };

    const decided = decideOrRefuse(decider, command, state, stream);
    if (decided.length === 0) return { state, events: [], nextExpectedRevision: revision, replayed: false };
    checkEventSizes(stream, decided);
    const newEvents = enveloped(decided, { ...context, commandId }, options.schemas, typeOf(command));
    try {
      const result = await store.append(stream, newEvents, { expectedRevision: expectedAfter(revision) });
      const events = recorded(stream, revision, newEvents, result.positions);
      const next = decided.reduce(decider.evolve, state);
      return { state: next, events, nextExpectedRevision: result.nextExpectedRevision, replayed: false };
    } catch (error) {
      if (!(error instanceof ConcurrencyError)) throw error;
      if (attempt >= maxRetries) {
        throw new CommandError('conflict', `${stream} kept changing: gave up after ${attempt + 1} attempts`);
      }
      await new Promise((r) => setTimeout(r, Math.random() * 5 * 2 ** attempt));
    }
  }
};

/** A stream a decision brings into being, with its first events (decided by its own aggregate). */
export interface LinkedFollower {
  stream: string;
  events: DomainEvent[];
  context: CommandContext & { commandId: string };
}

export interface LinkedResult {
  events: RecordedEvent[];
  followers: Array<{ stream: string; events: RecordedEvent[] }>;
}

/**
 * Decides `command` on the primary stream (as read: `history`) and appends its events together with the
 * first events of the streams they bring into being, in one transaction, where the store links appends
 * (PostgreSQL, PGlite): one commit instead of several, and never a follower without the decision that made
 * it. `followersOf` gets the decision's events in their envelope (ids included). Null when it cannot: no
 * linked appends, a command already recorded, or a conflict; the caller then goes the `handle()` way,
 * which reads and decides again.
 *
 * @example
 * const linked = await handleLinked(store, { stream, history, command, decider, context }, (events) =>
 *   events.filter(isDue).map((e) => ({ stream: taskStream(e.data.taskId), events: submitted(e), context })),
 * );
 * if (!linked) await handle(store, stream, command, decider, context);
 */
export const handleLinked = async <Command, State, Event extends DomainEvent>(
  store: EventStore,
  primary: {
    stream: string;
    history: RecordedEvent[];
    command: Command;
    decider: Decider<Command, State, Event>;
    context: CommandContext & { commandId: string };
  },
  followersOf: (events: NewEvent[]) => LinkedFollower[],
): Promise<LinkedResult | null> => {
  const { stream, history, decider, context } = primary;
  const appendLinked = store.appendLinked?.bind(store);
  if (!appendLinked || history.some((e) => e.metadata.causationId === context.commandId)) return null;
  const decided = decideOrRefuse(decider, primary.command, fold(decider, history), stream);
  if (decided.length === 0) return { events: [], followers: [] };
  checkEventSizes(stream, decided);
  const newEvents = enveloped(decided, context, undefined, typeOf(primary.command));
  const followers = followersOf(newEvents).map((f) => {
    checkEventSizes(f.stream, f.events);
    return { stream: f.stream, events: enveloped(f.events, f.context) };
  });
  const revision = history.length - 1;
  let results: AppendResult[];
  try {
    results = await appendLinked([
      { stream, events: newEvents, expectedRevision: expectedAfter(revision) },
      ...followers.map((f) => ({ ...f, expectedRevision: 'no_stream' as const })),
    ]);
  } catch (error) {
    if (error instanceof ConcurrencyError) return null;
    throw error;
  }
  return {
    events: recorded(stream, revision, newEvents, results[0]!.positions),
    followers: followers.map((f, i) => ({
      stream: f.stream,
      events: recorded(f.stream, -1, f.events, results[i + 1]!.positions),
    })),
  };
};
