/**
 * The `durable-floor` system: the least a durable SendMessage can do here, as a ceiling for the hub's
 * distributed runtime the way `floor` is one for any HTTP server. Per request, on bare Hono: the same four
 * events the hub's echo task has (submitted, working, artifact, completed) and the task's read-model row
 * written in one statement with synchronous commit (group commit: requests arriving while two statements
 * are in flight share the next one), then each event published to JetStream with its id as Nats-Msg-Id and
 * every publish acknowledged, then the reply. No validation beyond the shape, no decider, no consumers, no
 * tenancy, no idempotency, no relay (a crash between commit and publish would lose the fan-out): the hub
 * must do all of that on top, so this bounds what it can reach on this machine, not what it should.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { serve } from '@hono/node-server';
import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect, nanos } from '@nats-io/transport-node';
import { Hono } from 'hono';
import postgres from 'postgres';

const suffix = randomBytes(4).toString('hex');
const schema = process.env.FLOOR_SCHEMA ?? `bench_floor_${suffix}`;
const ns = process.env.FLOOR_NAMESPACE ?? `bf${suffix}`;
const sql = postgres(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test', {
  max: 4,
  onnotice: () => {},
});
await sql
  .unsafe(`CREATE SCHEMA ${schema};
CREATE TABLE ${schema}.events (position bigserial PRIMARY KEY, stream text NOT NULL, revision int NOT NULL,
  id uuid NOT NULL UNIQUE, type text NOT NULL, occurred_at timestamptz NOT NULL DEFAULT now(),
  data jsonb NOT NULL, metadata jsonb NOT NULL, UNIQUE (stream, revision));
CREATE TABLE ${schema}.tasks (id text PRIMARY KEY, tenant text NOT NULL, state text NOT NULL,
  revision int NOT NULL, task jsonb NOT NULL);`)
  .simple();
const nc = await connect({ servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222', noAsyncTraces: true });
const jsm = await jetstreamManager(nc);
const streamName = `${ns.toUpperCase()}_EVENTS`;
await jsm.streams.add({
  name: streamName,
  subjects: [`${ns}.evt.>`],
  storage: StorageType.File,
  duplicate_window: nanos(120_000),
});
const js = jetstream(nc);

interface Event {
  stream: string;
  revision: number;
  id: string;
  type: string;
  data: unknown;
  metadata: Record<string, string>;
}
interface Row {
  id: string;
  tenant: string;
  state: string;
  revision: number;
  task: unknown;
}
interface Pending {
  events: Event[];
  row: Row;
  done: (error?: unknown) => void;
}

const WRITE = `WITH e AS (
  INSERT INTO ${schema}.events (stream, revision, id, type, data, metadata)
  SELECT stream, revision, id, type, data, metadata FROM jsonb_to_recordset($1::text::jsonb)
    AS x(stream text, revision int, id uuid, type text, data jsonb, metadata jsonb)
  RETURNING 1
), t AS (
  INSERT INTO ${schema}.tasks (id, tenant, state, revision, task)
  SELECT id, tenant, state, revision, task FROM jsonb_to_recordset($2::text::jsonb)
    AS y(id text, tenant text, state text, revision int, task jsonb)
  ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, revision = EXCLUDED.revision, task = EXCLUDED.task
  RETURNING 1
) SELECT (SELECT count(*) FROM e) AS events, (SELECT count(*) FROM t) AS tasks`;

// Statements in flight, as in the hub (sql.ts maxInFlight); 1 measured about the same here.
const MAX_IN_FLIGHT = Number(process.env.FLOOR_IN_FLIGHT ?? 2);
let queue: Pending[] = [];
let inFlight = 0;
const flush = () => {
  while (inFlight < MAX_IN_FLIGHT && queue.length > 0) {
    const batch = queue;
    queue = [];
    inFlight++;
    sql
      .unsafe(WRITE, [
        JSON.stringify(batch.flatMap((p) => p.events)),
        JSON.stringify(batch.map((p) => p.row)),
      ])
      .then(
        () => {
          for (const p of batch) p.done();
        },
        (error) => {
          for (const p of batch) p.done(error);
        },
      )
      .finally(() => {
        inFlight--;
        flush();
      });
  }
};
const persist = (events: Event[], row: Row) =>
  new Promise<void>((resolve, reject) => {
    queue.push({ events, row, done: (e) => (e ? reject(e) : resolve()) });
    if (queue.length === 1) queueMicrotask(flush);
  });

const app = new Hono();
app.post('/a2a/jsonrpc', async (c) => {
  const req = (await c.req.json()) as {
    id: unknown;
    params: { message: { messageId: string; parts: Array<{ text?: string }> } };
  };
  const { message } = req.params;
  const text = message.parts[0]?.text ?? '';
  const taskId = randomUUID();
  const contextId = randomUUID();
  const stream = `task-${taskId}`;
  const at = new Date().toISOString();
  const metadata = { tenant: 'default', principal: 'bench', correlationId: taskId };
  const artifact = { artifactId: randomUUID(), name: 'echo', parts: [{ text }] };
  const task = {
    id: taskId,
    contextId,
    status: { state: 'TASK_STATE_COMPLETED', timestamp: at },
    artifacts: [artifact],
    history: [{ ...message, role: 'ROLE_USER', taskId, contextId }],
  };
  const events: Event[] = [
    { type: 'TaskSubmitted', data: { taskId, contextId, message, at } },
    { type: 'TaskStatusUpdated', data: { state: 'TASK_STATE_WORKING', at } },
    { type: 'TaskArtifactUpdated', data: { artifact, at } },
    { type: 'TaskStatusUpdated', data: { state: 'TASK_STATE_COMPLETED', at } },
  ].map((e, revision) => ({ ...e, stream, revision, id: randomUUID(), metadata }));
  await persist(events, { id: taskId, tenant: 'default', state: 'TASK_STATE_COMPLETED', revision: 3, task });
  // As in the hub, the fan-out is not on the reply's path (the hub's relay publishes after the commit),
  // but it is on this process's CPU: every publish is made and its acknowledgement read.
  for (const e of events) {
    js.publish(`${ns}.evt.default.task.${stream}.${e.type}`, JSON.stringify(e), { msgID: e.id }).catch(
      (error) => {
        if (!stopping) console.error(error);
      },
    );
  }
  return c.json({ jsonrpc: '2.0', id: req.id, result: { task } });
});
let stopping = false;
const server = serve(
  { fetch: app.fetch, port: Number(process.env.PORT ?? 0), hostname: '127.0.0.1' },
  (info) => {
    process.stdout.write(`listening on http://127.0.0.1:${info.port}\n`);
  },
);
process.on('SIGTERM', async () => {
  stopping = true;
  server.close();
  await jsm.streams.delete(streamName).catch(() => {});
  await nc.close().catch(() => {});
  await sql.unsafe(`DROP SCHEMA ${schema} CASCADE`).catch(() => {});
  await sql.end({ timeout: 2 });
  process.exit(0);
});
