/** Records an agent run's updates as task commands, several per append, idempotent across crashes. */
import { randomUUID } from 'node:crypto';
import { checkEventSizes, fold } from '../commands/handle.ts';
import { type TaskAggregate, type TaskCommand, taskDecider } from '../commands/task.ts';
import type { EventMetadata, NewEvent, RecordedEvent } from '../events/envelope.ts';
import type { TaskEvent } from '../events/task.ts';
import { ConcurrencyError, type EventStore } from '../infra/event-store/port.ts';

interface Pending {
  command: TaskCommand;
  commandId: string;
}

/**
 * Records an agent run's commands on one task stream, several per append: an agent that yields its
 * artifact and its final status in one go costs one round trip, not one per update. Each event keeps the
 * id of the command that caused it (causation id), so a run repeated after a crash skips what was already
 * recorded, as handle() does for single commands. A concurrent writer (a cancel) makes the append fail on
 * its expected revision; the stream is then re-read and the queued commands decided again, which refuses
 * them if the task went terminal meanwhile.
 */
export class TaskRecorder {
  private persisted: TaskAggregate;
  private state: TaskAggregate;
  private revision: number;
  private recorded: Set<string>;
  private pending: Pending[] = [];

  constructor(
    private readonly store: EventStore,
    readonly stream: string,
    history: RecordedEvent[],
    private readonly context: Pick<EventMetadata, 'tenant' | 'principal' | 'correlationId'>,
    /** Called with what each append wrote (the local feed: followers on this process need no bus hop). */
    private readonly onRecorded: (events: RecordedEvent[]) => void = () => {},
  ) {
    this.persisted = this.state = fold<TaskAggregate, TaskEvent>(taskDecider, history);
    this.revision = history.length - 1;
    this.recorded = causes(history);
  }

  /** The task as it will be once everything recorded so far is appended. */
  get current(): TaskAggregate {
    return this.state;
  }

  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  /** Decides the command now (throws a CommandError if the task refuses it); appends on flush(). */
  record(command: TaskCommand, commandId: string): TaskAggregate {
    if (this.recorded.has(commandId)) return this.state;
    const events = taskDecider.decide(command, this.state);
    // An agent's oversized update (a huge artifact) is refused as a command's would be: the worker then
    // fails the task saying why, rather than the event reaching the log and the bus.
    checkEventSizes(this.stream, events);
    this.state = events.reduce(taskDecider.evolve, this.state);
    if (events.length > 0) this.pending.push({ command, commandId });
    return this.state;
  }

  async flush(maxRetries = 5): Promise<RecordedEvent[]> {
    for (let attempt = 0; this.pending.length > 0; attempt++) {
      const batch = this.decideAll();
      if (batch.length === 0) return [];
      try {
        const result = await this.store.append(
          this.stream,
          batch.map((b) => b.event),
          { expectedRevision: this.revision < 0 ? 'no_stream' : this.revision },
        );
        const occurredAt = new Date().toISOString();
        const written: RecordedEvent[] = batch.map(({ event }, i) => ({
          ...event,
          stream: this.stream,
          revision: this.revision + 1 + i,
          position: result.positions[i]!,
          schemaVersion: event.schemaVersion ?? 1,
          occurredAt,
        }));
        this.revision = result.nextExpectedRevision;
        for (const b of batch) this.recorded.add(b.commandId);
        this.persisted = this.state;
        this.pending = [];
        this.onRecorded(written);
        return written;
      } catch (error) {
        if (!(error instanceof ConcurrencyError) || attempt >= maxRetries) throw error;
        const history = await this.store.readStream(this.stream);
        this.persisted = fold<TaskAggregate, TaskEvent>(taskDecider, history);
        this.revision = history.length - 1;
        this.recorded = causes(history);
      }
    }
    return [];
  }

  /** The queued commands decided against the persisted state, skipping those a previous run recorded. */
  private decideAll() {
    let state = this.persisted;
    const batch: Array<{ commandId: string; domain: TaskEvent; event: NewEvent }> = [];
    const still: Pending[] = [];
    try {
      for (const p of this.pending) {
        if (this.recorded.has(p.commandId)) continue;
        still.push(p);
        const metadata: EventMetadata = { ...this.context, causationId: p.commandId };
        for (const domain of taskDecider.decide(p.command, state)) {
          state = taskDecider.evolve(state, domain);
          batch.push({
            commandId: p.commandId,
            domain,
            // The version is the store's to stamp (infra/event-store/upcasting.ts).
            event: { id: randomUUID(), type: domain.type, data: domain.data, metadata },
          });
        }
      }
    } catch (error) {
      // Refused on the fresh state (the task went terminal under us): nothing queued is written.
      this.pending = [];
      this.state = this.persisted;
      throw error;
    }
    this.pending = still;
    this.state = state;
    return batch;
  }
}

const causes = (history: RecordedEvent[]) =>
  new Set(history.map((e) => e.metadata.causationId).filter((c): c is string => typeof c === 'string'));
