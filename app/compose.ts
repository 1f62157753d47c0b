/**
 * The composition root: picks every adapter from the configuration and starts the roles this process runs.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import pino, { type Logger } from 'pino';
import postgres from 'postgres';
import { filter, map, merge, Observable, Subject } from 'rxjs';
import { apiKeyAuthenticator } from '../a2a-edge/auth.ts';
import { pushConfigs } from '../a2a-edge/push-configs.ts';
import { listen } from '../a2a-edge/server.ts';
import { A2AService } from '../a2a-edge/service.ts';
import { type AgentDirectory, agentDirectory, builtInAgents } from '../agents/directory.ts';
import { llmAgents } from '../agents/llm.ts';
import { registerInProcessAgents } from '../agents/registry.ts';
import { remoteAgentWorker } from '../agents/remote.ts';
import { agentWorker } from '../agents/worker.ts';
import { bootstrapDefaultTenant } from '../commands/bootstrap.ts';
import { configureMaxEventBytes } from '../commands/handle.ts';
import { ROUTE_DEFAULT_AGENT } from '../commands/task.ts';
import { configureWorkflowLimits } from '../commands/workflow-limits.ts';
import type { RecordedEvent } from '../events/envelope.ts';
import { currentSchemas, type EventSchemaRegistry } from '../events/upcasting.ts';
import { createInProcessBus } from '../infra/bus/in-process.ts';
import { createJetStreamBus } from '../infra/bus/jetstream.ts';
import type { Bus, Consumer, ConsumerOptions } from '../infra/bus/port.ts';
import { upcastingBus } from '../infra/bus/upcasting.ts';
import type { Discovery } from '../infra/discovery/port.ts';
import { createOfflineEmbeddings } from '../infra/embeddings/offline.ts';
import { createOpenAIEmbeddings } from '../infra/embeddings/openai.ts';
import type { Embeddings } from '../infra/embeddings/port.ts';
import { createEventStoreDbStore } from '../infra/event-store/eventstoredb.ts';
import { createPgliteEventStore } from '../infra/event-store/pglite.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import { createPostgresEventStore } from '../infra/event-store/postgres.ts';
import { channelFor } from '../infra/event-store/sql.ts';
import { upcastingStore } from '../infra/event-store/upcasting.ts';
import { redisIdempotencyStore } from '../infra/idempotency/redis.ts';
import { sqlIdempotencyStore } from '../infra/idempotency/sql.ts';
import { type LeaderLock, postgresLeaderLock, soleLeader } from '../infra/leader.ts';
import { observeAppends } from '../infra/observe.ts';
import { runRelay } from '../infra/relay.ts';
import { pgliteDatabase } from '../infra/sql/pglite.ts';
import { startPgliteThread } from '../infra/sql/pglite-thread.ts';
import type { SqlDatabase } from '../infra/sql/port.ts';
import { oneMigratorAtATime, postgresDatabase } from '../infra/sql/postgres.ts';
import { TaskFeed } from '../infra/task-feed.ts';
import { agentsProjection } from '../projections/agents.ts';
import { auditProjection } from '../projections/audit.ts';
import { discoveryProjection } from '../projections/discovery.ts';
import { createDiscovery, ensureVectorExtension } from '../projections/discovery-search.ts';
import { lineageProjection } from '../projections/lineage.ts';
import { metricsProjection } from '../projections/metrics.ts';
import type { Projection } from '../projections/projection.ts';
import {
  adoptInline,
  catchUp,
  catchUpUntil,
  inlineProjection,
  migrateProjection,
  runProjections,
} from '../projections/runner.ts';
import { tasksProjection } from '../projections/tasks.ts';
import { TasksCaughtUp } from '../projections/tasks-caught-up.ts';
import { apiKeyReadable, tenantsProjection } from '../projections/tenants.ts';
import { workflowRunsProjection } from '../projections/workflow-runs.ts';
import { startCardRefresh } from '../sagas/card-refresh.ts';
import { circuitBreakerConsumers, prepareCircuitSaga, startCircuitTimer } from '../sagas/circuit-breaker.ts';
import { exactlyOnce, PROCESSED_EVENTS_DDL, type TransactionalConsumer } from '../sagas/exactly-once.ts';
import { pushDeliveryConsumers } from '../sagas/push-delivery.ts';
import { routingSaga } from '../sagas/routing.ts';
import { prepareWebhookCheckpoints } from '../sagas/webhook-checkpoints.ts';
import { startWebhookDelivery } from '../sagas/webhook-delivery.ts';
import { workflowSaga } from '../sagas/workflow.ts';
import type { Config, Role } from './config.ts';
import { edgeApp } from './http.ts';

/** What a role needs; every adapter behind its port, chosen here and nowhere else. */
export interface Runtime {
  config: Config;
  log: Logger;
  store: EventStore;
  bus: Bus;
  /** The read-model database (and, embedded, the event store's too). */
  db: SqlDatabase;
  projections: Projection[];
  agents: AgentDirectory;
  /** Text embeddings (offline model unless AGENTCORE_EMBEDDINGS_* name an OpenAI-compatible endpoint). */
  embeddings: Embeddings;
  /** Hybrid (exact + semantic) agent-skill discovery over the discovery read model. */
  discovery: Discovery;
  /** Per-task live event feeds for streams and workers (one bus subscription per process). */
  feed: TaskFeed;
  start(roles: Role[]): Promise<{ url?: string; devApiKey?: string | null }>;
  /** True while this process's relay role holds the leadership and publishes. */
  relayLeading(): boolean;
  /** Graceful: stops taking work, drains what is in flight, then closes connections. */
  stop(): Promise<void>;
}

export interface RuntimeOverrides {
  log?: Logger;
  projections?: Projection[];
  /** Extra bus consumers with database effects for the `sagas` role, applied exactly once per event. */
  sagas?: TransactionalConsumer[];
  agents?: AgentDirectory;
  /** The event schemas every read brings events up to (default: this build's, events/upcasting.ts). */
  schemas?: EventSchemaRegistry;
}

/**
 * The built-in agents and the configured LLM agents, the fallback being AGENTCORE_DEFAULT_AGENT (which may
 * name an LLM agent) unless that is `route`.
 */
const defaultAgents = (config: Config): AgentDirectory => {
  const builtIn = builtInAgents();
  const { llm } = config;
  const llmOnes = llm.agents.length
    ? llmAgents(llm.agents, { baseURL: llm.baseURL!, apiKey: llm.apiKey, model: llm.model })
    : [];
  const taken = llmOnes.find((a) => builtIn.get(a.id));
  if (taken) {
    throw new Error(`invalid configuration: AGENTCORE_LLM_AGENTS: "${taken.id}" is a built-in agent's id`);
  }
  const { defaultAgent } = config.routing;
  const fallback = defaultAgent === ROUTE_DEFAULT_AGENT ? builtIn.fallback.id : defaultAgent;
  if (llmOnes.length === 0 && fallback === builtIn.fallback.id) return builtIn;
  return agentDirectory([...builtIn.list(), ...llmOnes], fallback);
};

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

const BUS_DURABLES_DDL = `CREATE TABLE IF NOT EXISTS bus_durables (name text PRIMARY KEY, position bigint NOT NULL)`;

export const createRuntime = async (config: Config, overrides: RuntimeOverrides = {}): Promise<Runtime> => {
  const log = overrides.log ?? pino({ level: config.logLevel, base: { mode: config.mode } });
  // Process-wide, as the command handler and the workflow service are plain functions.
  configureMaxEventBytes(config.limits.maxEventBytes);
  const { maxStepInputBytes, maxRunInputBytes } = config.limits;
  configureWorkflowLimits({ maxStepInputBytes, maxRunInputBytes });
  let db: SqlDatabase;
  let baseStore: EventStore;
  let bus: Bus;
  let leader: LeaderLock = soleLeader;
  let sql: postgres.Sql | null = null;
  let logAppendedElsewhere$: Observable<undefined> | null = null;
  let schemaChanges = async <T>(fn: () => Promise<T>): Promise<T> => fn();
  // Where the log and the read models share a database (not EventStoreDB), inline projections are kept in
  // the append transaction: the tasks read model is never behind what an answer shows.
  // (Discovery needs the embeddings set up below; it is never inline.)
  const coreProjections = overrides.projections ?? [tenantsProjection, tasksProjection, agentsProjection];
  const inlineProjections = config.eventStoreUrl ? [] : coreProjections.filter((p) => p.inline);
  const inline = inlineProjections.map(inlineProjection);

  if (config.mode === 'embedded') {
    const dir = resolve(config.dataDir, 'pglite');
    mkdirSync(dir, { recursive: true });
    // PGlite works in a thread of its own: its queries (synchronous WASM) never hold the hub's event loop.
    const pglite = await startPgliteThread({ dataDir: dir });
    db = pgliteDatabase(pglite);
    // The only store on this database: nobody else needs to hear of its appends.
    baseStore = await createPgliteEventStore({ db: pglite, notify: false, inline });
    await db.exec(BUS_DURABLES_DDL);
    bus = createInProcessBus({
      durableState: {
        load: async () =>
          Object.fromEntries(
            (
              await db.query<{ name: string; position: string }>('SELECT name, position FROM bus_durables')
            ).map((r) => [r.name, Number(r.position)]),
          ),
        save: async (name, position) => {
          await db.query(
            'INSERT INTO bus_durables (name, position) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET position = $2',
            [name, position],
          );
        },
      },
    });
  } else {
    const storeOrigin = randomUUID();
    const pg = postgres(config.databaseUrl!, {
      max: 20,
      onnotice: () => {},
      connection: { search_path: config.pgSchema },
    });
    sql = pg;
    schemaChanges = oneMigratorAtATime(pg);
    db = postgresDatabase(pg);
    baseStore = config.eventStoreUrl
      ? await createEventStoreDbStore({ connectionString: config.eventStoreUrl })
      : await schemaChanges(async () => {
          if (config.pgSchema !== 'public') await pg.unsafe(`CREATE SCHEMA IF NOT EXISTS ${config.pgSchema}`);
          return createPostgresEventStore({ sql: pg, schema: config.pgSchema, origin: storeOrigin, inline });
        });
    bus = await createJetStreamBus({ servers: config.natsUrl!, namespace: config.namespace });
    // Other processes' appends (the store's NOTIFY after each commit) wake this process's projections.
    if (!config.eventStoreUrl)
      logAppendedElsewhere$ = new Observable<undefined>((subscriber) => {
        // This process's own appends are announced in-process already, with what they wrote.
        const listening = pg.listen(channelFor(config.pgSchema), (origin) => {
          if (origin !== storeOrigin) subscriber.next(undefined);
        });
        // Not an error for the subscriber: the projections' poll is the safety net.
        listening.catch((err) => log.warn({ err }, 'LISTEN failed: projections rely on their poll'));
        return () => void listening.then((l) => l.unlisten()).catch(() => {});
      });
    leader = postgresLeaderLock(sql, `${config.pgSchema}:${config.namespace}:relay`);
  }
  // Every consumer gets events at this build's schema versions; what is published stays as stored.
  const schemas = overrides.schemas ?? currentSchemas;
  bus = upcastingBus(bus, schemas);
  // Discovery (agent skills with embeddings) needs pgvector; its type is referred to by schema.
  const vectorSchema = await schemaChanges(async () => {
    await db.exec(PROCESSED_EVENTS_DDL);
    return ensureVectorExtension(db);
  });
  const embeddings =
    config.embeddings.kind === 'openai'
      ? createOpenAIEmbeddings(config.embeddings)
      : createOfflineEmbeddings();
  const discovery = createDiscovery({ db, embeddings, vectorSchema });
  const { store: storedForm, appended$ } = observeAppends(baseStore);
  // Every reader gets events at this build's schema versions, except the relay: it publishes them as stored.
  const store = upcastingStore(storedForm, schemas);
  const projections = overrides.projections ?? [
    ...coreProjections,
    discoveryProjection(embeddings, { vectorSchema }),
    metricsProjection(config.metrics),
    workflowRunsProjection,
    lineageProjection,
    auditProjection,
  ];
  const asyncProjections = projections.filter((p) => !inlineProjections.includes(p));
  const sagas = overrides.sagas ?? [];
  const agents = overrides.agents ?? defaultAgents(config);
  const feed = new TaskFeed(store, bus.live({ category: 'task' }));

  const stops: Array<() => Promise<void>> = [];
  let leading = false;
  const abort = new AbortController();

  const runtime: Runtime = {
    config,
    log,
    store,
    bus,
    db,
    projections,
    agents,
    embeddings,
    discovery,
    feed,
    async start(roles) {
      const result: { url?: string; devApiKey?: string | null } = {};
      // Every role reads or writes read models: their tables exist before anything starts.
      await schemaChanges(async () => {
        for (const p of projections) await migrateProjection(db, p);
        for (const p of inlineProjections) await adoptInline(db, store, p);
        if (roles.includes('sagas')) await prepareCircuitSaga(db);
        if (roles.includes('sagas') || roles.includes('edge')) await prepareWebhookCheckpoints(db);
      });
      if (roles.includes('edge')) {
        // Once per database: the first edge to start prints the key (idempotent by command id).
        result.devApiKey = await bootstrapDefaultTenant(store);
        // The key must work on the first request, not after the projection's next poll.
        const key = result.devApiKey;
        if (roles.includes('projections') && key)
          await catchUpUntil(
            db,
            store,
            tenantsProjection,
            () => apiKeyReadable(db, key),
            'the development key',
          );
        else if (roles.includes('projections')) await catchUp(db, store, tenantsProjection);
      }
      const projectionCommits$ = new Subject<{ projection: string; events: RecordedEvent[] }>();
      if (roles.includes('projections')) {
        const running = runProjections(db, store, asyncProjections, {
          wake: logAppendedElsewhere$ ? merge(appended$, logAppendedElsewhere$) : appended$,
          // A poll is only the safety net where every append rings a bell; EventStoreDB's do not.
          pollMs: config.mode === 'embedded' || logAppendedElsewhere$ ? 1000 : 50,
          onError: (err, projection) => log.error({ err, projection }, 'projection batch failed; will retry'),
          onCommitted: (projection, events) => projectionCommits$.next({ projection, events }),
        });
        stops.unshift(() => running.stop());
      }
      if (roles.includes('relay')) {
        // Copies of the relay wait as standbys; only the lock holder publishes.
        const relayLoop = (async () => {
          while (!abort.signal.aborted) {
            let lease: Awaited<ReturnType<LeaderLock['acquire']>>;
            try {
              lease = await leader.acquire(abort.signal);
            } catch {
              return;
            }
            log.info('relay: this process leads');
            leading = true;
            const relay = runRelay(storedForm, bus, { log });
            const stopRelay = new Promise<void>((r) =>
              abort.signal.addEventListener('abort', () => r(), { once: true }),
            );
            await Promise.race([lease.lost, stopRelay]);
            await relay.stop();
            leading = false;
            await lease.release();
          }
        })();
        stops.push(async () => {
          abort.abort();
          await relayLoop;
        });
      }
      // Agent registry: the in-process agents this process runs are registered (idempotent), and the
      // sagas role refreshes remote agents' cards when due (sagas/card-refresh.ts).
      if (roles.includes('workers')) await registerInProcessAgents(store, agents);
      if (roles.includes('sagas')) {
        const refresher = startCardRefresh({ store, db, log, allowPrivateUrls: config.allowPrivateUrls });
        stops.unshift(() => refresher.stop());
        // Webhook subscriptions (sagas/webhook-delivery.ts): the process holding this lock delivers them all.
        const webhooks = startWebhookDelivery({
          store,
          db,
          log,
          allowPrivateUrls: config.allowPrivateUrls,
          settings: config.webhooks,
          leader: sql
            ? postgresLeaderLock(sql, `${config.pgSchema}:${config.namespace}:webhooks`)
            : soleLeader,
        });
        stops.unshift(() => webhooks.stop());
      }
      // Routing, circuit breakers and the remote-agent worker (sagas/routing.ts, sagas/circuit-breaker.ts,
      // agents/remote.ts).
      const routing = config.routing;
      const circuit = { threshold: routing.circuitFailureThreshold, cooldownMs: routing.circuitCooldownMs };
      if (roles.includes('sagas')) {
        const timer = startCircuitTimer({
          store,
          db,
          log,
          circuit,
          tickMs: Math.min(1000, Math.max(50, Math.floor(routing.circuitCooldownMs / 4))),
        });
        stops.unshift(() => timer.stop());
      }
      const routingConsumers: ConsumerOptions[] = [
        ...(roles.includes('sagas')
          ? [
              routingSaga({
                store,
                discovery,
                log,
                routeByDefault: routing.routeByDefault,
                weights: routing.weights,
                minSimilarity: routing.minSimilarity,
                probeStaleAfterMs: routing.remoteCallTimeoutMs + 30_000,
                readModels: db, // observed latency, success and cost (projections/metrics-query.ts)
              }),
              ...circuitBreakerConsumers({ store, db, log, circuit }),
            ]
          : []),
        ...(roles.includes('workers')
          ? [
              ...remoteAgentWorker({
                store,
                feed,
                log,
                agents,
                routeByDefault: routing.routeByDefault,
                allowPrivateUrls: config.allowPrivateUrls,
                callTimeoutMs: routing.remoteCallTimeoutMs,
                concurrencyPerAgent: routing.remoteAgentConcurrency,
                maxAckPending: Math.max(64, routing.remoteAgentConcurrency * 8),
                ackWaitMs: config.workerAckWaitMs,
              }),
            ]
          : []),
      ];
      const worker = roles.includes('workers')
        ? agentWorker({
            store,
            feed,
            agents,
            log,
            ackWaitMs: config.workerAckWaitMs,
            routeByDefault: config.routing.routeByDefault,
          })
        : null;
      const consumers: Consumer[] = [];
      const consumerDefs: ConsumerOptions[] = [
        ...routingConsumers,
        ...(roles.includes('sagas') ? sagas.map((s) => exactlyOnce(db, s)) : []),
        // Push delivery records its own intents and outcomes (not exactlyOnce: a retry must POST again).
        ...(roles.includes('sagas')
          ? pushDeliveryConsumers({
              store,
              log,
              allowPrivateUrls: config.allowPrivateUrls,
              concurrencyPerTenant: config.push.concurrencyPerTenant,
              endpointMaxBackoffMs: config.push.endpointMaxBackoffMs,
            })
          : []),
        ...(roles.includes('sagas')
          ? workflowSaga({
              store,
              log,
              ackWaitMs: config.sagaAckWaitMs,
              stopping: abort.signal,
              dispatch: worker?.dispatch,
              localTaskEvents: (listener) => feed.onLocal(listener),
            })
          : []),
        ...(worker ? worker.consumers : []),
      ];
      for (const def of consumerDefs) consumers.push(await bus.consume(def));
      if (consumers.length)
        stops.unshift(async () => void (await Promise.all(consumers.map((c) => c.stop()))));
      if (roles.includes('edge')) {
        const capabilities = { streaming: true, pushNotifications: true };
        const push = pushConfigs({
          store,
          allowPrivateUrls: config.allowPrivateUrls,
          maxConfigsPerTask: config.push.maxConfigsPerTask,
        });
        // Read-your-writes: nothing to wait for when the tasks read model is written with the events.
        const tasksCaughtUp = inlineProjections.includes(tasksProjection)
          ? undefined
          : new TasksCaughtUp(
              db,
              roles.includes('projections')
                ? projectionCommits$.pipe(
                    filter((c) => c.projection === tasksProjection.name),
                    map((c) => c.events),
                  )
                : undefined,
            );
        if (tasksCaughtUp) stops.push(async () => tasksCaughtUp.close());
        const service = new A2AService({
          store,
          feed,
          readModels: db,
          ...(tasksCaughtUp ? { tasksCaughtUp } : {}),
          push,
          capabilities,
          ...(worker ? { dispatch: worker.dispatch } : {}),
        });
        // Shared by every edge: Redis when the hub has it, else the read-model database.
        const idempotency = config.redisUrl
          ? redisIdempotencyStore(config.redisUrl, config.namespace)
          : await schemaChanges(() => sqlIdempotencyStore(db));
        stops.push(() => idempotency.close());
        const app = edgeApp({
          service,
          idempotency: { store: idempotency, ttlMs: config.idempotencyTtlMs },
          eventStreams: config.eventStreams,
          store,
          auth: apiKeyAuthenticator(db),
          agents,
          publicUrl: config.publicUrl,
          version,
          capabilities,
          bodyLimitBytes: config.bodyLimitBytes,
          maxMessageBytes: config.maxMessageBytes,
          log,
          discovery,
          readModels: db,
          admin: { store, readModels: db, allowPrivateUrls: config.allowPrivateUrls, log },
          checks: [
            {
              name: 'event-store',
              check: async () => void (await store.readStream('healthcheck', { maxCount: 1 })),
            },
            { name: 'read-models', check: async () => void (await db.query('SELECT 1')) },
            { name: 'bus', check: async () => void (await bus.lastPublishedPosition()) },
          ],
        });
        const server = await listen(app, config.host, config.port);
        result.url = server.url;
        stops.unshift(() => server.close());
      }
      return result;
    },
    relayLeading: () => leading,
    async stop() {
      abort.abort();
      for (const stop of stops.splice(0)) await stop();
      feed.close();
      await bus.close();
      await baseStore.close();
      await db.close();
    },
  };
  return runtime;
};
