/**
 * The circuit breaker saga: opens, half-opens and closes one circuit per agent from its calls' outcomes.
 *
 * Health and circuit breakers, one circuit per agent (commands/circuit.ts, stream `circuit-<agent key>`):
 *
 * - consumer `circuit-breaker`: every RemoteCallCompleted (agents/remote.ts) becomes a RecordCallOutcome
 *   on the agent's circuit (command id `circuit:<event id>`: a redelivery is not counted twice). Failed
 *   and timed-out calls count; `threshold` in a row open the circuit for `cooldownMs`; a half-open
 *   circuit's probe closes it or opens it again.
 * - consumer `circuit-timers`: keeps `circuit_timers` (one row per circuit: state, until, revision), the
 *   saga's own durable state, from the circuit events.
 * - a timer loop (`startCircuitTimer`, sagas role): open circuits whose `until` has passed are half-opened
 *   (command id from the CircuitOpened revision: copies of the loop in several processes write one
 *   event). The row survives restarts, so a cooldown that ends while the hub is down is acted on at start.
 *   A call that finds an expired open circuit before the loop comes round half-opens it itself (ClaimProbe).
 * - what the remote worker asks before a call (`admitCall`) is in agents/circuit-admission.ts.
 *
 * The discovery projection (projections/discovery.ts) reads the circuit events (routability) and
 * RemoteCallCompleted (latency, quality) on its own.
 */
import type { Logger } from 'pino';
import { circuitDecider } from '../commands/circuit.ts';
import { handle } from '../commands/handle.ts';
import { agentKeyOfCircuit, CircuitEvent, circuitStream, tenantOfAgentKey } from '../events/circuit.ts';
import type { RecordedEvent } from '../events/envelope.ts';
import { RemoteCallCompleted } from '../events/task.ts';
import type { ConsumerOptions } from '../infra/bus/port.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import { safeErr } from '../infra/log-safe.ts';
import type { SqlExecutor } from '../infra/sql/port.ts';

export interface CircuitOptions {
  /** Consecutive failed calls that open a circuit. Default 3. */
  threshold: number;
  /** How long an open circuit stays open. Default 30 s. */
  cooldownMs: number;
}

export const DEFAULT_CIRCUIT: CircuitOptions = { threshold: 3, cooldownMs: 30_000 };

export const CIRCUIT_TIMERS_DDL = `CREATE TABLE IF NOT EXISTS circuit_timers (
  agent_key text PRIMARY KEY, tenant text NOT NULL, state text NOT NULL, until timestamptz,
  revision int NOT NULL)`;

const PRINCIPAL = 'saga:circuit-breaker';

export interface CircuitSagaDeps {
  store: EventStore;
  db: SqlExecutor;
  log: Logger;
  circuit?: Partial<CircuitOptions>;
  now?: () => string;
}

const taskIdOf = (stream: string) => stream.slice(stream.indexOf('-') + 1);

/**
 * The two consumers of the saga. Call `prepareCircuitSaga` first (the table).
 *
 * @example
 * await prepareCircuitSaga(db);
 * for (const consumer of circuitBreakerConsumers({ store, db, log })) await bus.consume(consumer);
 */
export const circuitBreakerConsumers = (deps: CircuitSagaDeps): ConsumerOptions[] => {
  const now = deps.now ?? (() => new Date().toISOString());
  const { threshold, cooldownMs } = { ...DEFAULT_CIRCUIT, ...deps.circuit };
  return [
    {
      durable: 'circuit-breaker',
      filter: { category: 'task', type: 'RemoteCallCompleted' },
      maxAckPending: 64,
      maxDeliver: 10,
      handler: async ({ event }) => {
        const parsed = RemoteCallCompleted.safeParse({ type: event.type, data: event.data });
        if (!parsed.success) return;
        const d = parsed.data.data;
        await handle(
          deps.store,
          circuitStream(d.agentKey),
          {
            type: 'RecordCallOutcome',
            agentKey: d.agentKey,
            taskId: taskIdOf(event.stream),
            callId: d.callId,
            ok: d.ok,
            outcome: d.outcome,
            ...(d.error ? { error: d.error } : {}),
            threshold,
            cooldownMs,
            // The outcome's own time: a redelivery decides the same way.
            at: d.at ?? now(),
          },
          circuitDecider,
          {
            tenant: tenantOfAgentKey(d.agentKey) || event.metadata.tenant,
            principal: PRINCIPAL,
            commandId: `circuit:${event.id}`,
            correlationId: event.metadata.correlationId,
          },
        );
      },
    },
    {
      durable: 'circuit-timers',
      filter: { category: 'circuit' },
      maxAckPending: 64,
      handler: async ({ event }) => recordTimer(deps.db, event),
    },
  ];
};

export const prepareCircuitSaga = async (db: SqlExecutor) => {
  await db.query(CIRCUIT_TIMERS_DDL);
};

const positionOf: Record<CircuitEvent['type'], 'closed' | 'open' | 'half-open'> = {
  CircuitFailureRecorded: 'closed',
  CircuitFailuresReset: 'closed',
  CircuitOpened: 'open',
  CircuitHalfOpened: 'half-open',
  CircuitProbeClaimed: 'half-open',
  CircuitProbeReleased: 'half-open',
  CircuitClosed: 'closed',
};

/** The newest circuit event wins (events of one stream may be handled out of order). */
export const recordTimer = async (db: SqlExecutor, event: RecordedEvent) => {
  const parsed = CircuitEvent.safeParse({ type: event.type, data: event.data });
  const agentKey = agentKeyOfCircuit(event.stream);
  if (!parsed.success || !agentKey) return;
  const e = parsed.data;
  await db.query(
    `INSERT INTO circuit_timers (agent_key, tenant, state, until, revision)
     VALUES ($1, $2, $3, $4::timestamptz, $5)
     ON CONFLICT (agent_key) DO UPDATE SET tenant = EXCLUDED.tenant, state = EXCLUDED.state,
       until = EXCLUDED.until, revision = EXCLUDED.revision
     WHERE circuit_timers.revision < EXCLUDED.revision`,
    [
      agentKey,
      event.metadata.tenant,
      positionOf[e.type],
      e.type === 'CircuitOpened' ? e.data.until : null,
      event.revision,
    ],
  );
};

export interface CircuitTimer {
  /** One pass: half-opens the due circuits; returns their agent keys. */
  tick(): Promise<string[]>;
  stop(): Promise<void>;
}

/** The durable cooldown timer of the sagas role. */
export const startCircuitTimer = (deps: CircuitSagaDeps & { tickMs?: number }): CircuitTimer => {
  const now = deps.now ?? (() => new Date().toISOString());
  const tickMs = deps.tickMs ?? 1000;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<unknown> = Promise.resolve();
  const tick = async () => {
    const at = now();
    const due = await deps.db.query<{ agent_key: string; tenant: string; revision: number }>(
      `SELECT agent_key, tenant, revision FROM circuit_timers WHERE state = 'open' AND until <= $1::timestamptz
       ORDER BY until LIMIT 100`,
      [at],
    );
    const done: string[] = [];
    for (const row of due) {
      try {
        const result = await handle(
          deps.store,
          circuitStream(row.agent_key),
          { type: 'HalfOpenCircuit', agentKey: row.agent_key, at },
          circuitDecider,
          {
            tenant: row.tenant,
            principal: PRINCIPAL,
            commandId: `half-open:${row.agent_key}:${row.revision}`,
          },
        );
        if (result.events.length > 0) done.push(row.agent_key);
      } catch (err) {
        deps.log.warn({ err: safeErr(err), agentKey: row.agent_key }, 'circuit timer: could not half-open');
      }
    }
    return done;
  };
  const loop = () => {
    if (stopped) return;
    current = tick()
      .catch((err) => deps.log.warn({ err: safeErr(err) }, 'circuit timer: tick failed'))
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, tickMs);
      });
  };
  timer = setTimeout(loop, 0);
  return {
    tick,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await current;
    },
  };
};
