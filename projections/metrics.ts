/**
 * The metrics read model: per tenant × agent × skill (tasks) and per workflow (runs), in minute, hour and day
 * buckets: terminal counts, cost, tokens, and latency histograms (projections/metrics-sketch.ts).
 *
 * Tables (owned here, dropped on rebuild):
 * - `rm_metrics`: one row per (tenant, resolution, scope, bucket, agent, skill, workflow) with the counts by
 *   terminal state, cost (numeric: sums are exact, so a rebuild equals the live table to the last digit)
 *   and token sums. Each terminal task adds to its minute, hour and day rows in the same batch, so a day's
 *   query reads 24 hour rows (or one day row), never 1,440 minute rows.
 * - `rm_metrics_latency`: the histograms, `(…, kind, bucket_index) → count`, merged with
 *   `SUM(count) GROUP BY bucket_index`; kinds `working` (submitted → first working) and `terminal`
 *   (submitted → terminal; for runs started → ended).
 * - `rm_metrics_open_tasks`, `rm_metrics_open_runs`, `rm_metrics_agents`: what the fold must remember
 *   between events (when each open task was submitted, its agent and tokens so far; agents' costs), so the
 *   read model derives from the log alone.
 * - `rm_metrics_clock`: the latest `occurredAt` folded, which retention counts back from: pruning follows
 *   the log's time, never the wall clock, and only at minute boundaries, so a rebuild prunes what the live
 *   run pruned. A contribution older than the retention is not written.
 *
 * Kept by the runner (checkpoint in the batch's transaction), not inline: nothing on the append path.
 */
import type { RecordedEvent } from '../events/envelope.ts';
import type { SqlExecutor } from '../infra/sql/port.ts';
import {
  type FoldState,
  foldMetrics,
  METRICS_EVENT_TYPES,
  namedAgentKeys,
  type OpenRun,
  type OpenTask,
} from './metrics-fold.ts';
import {
  bucketStart,
  DEFAULT_METRICS_RETENTION,
  type MetricsRetention,
  RESOLUTIONS,
  type Resolution,
} from './metrics-settings.ts';
import { bucketOf } from './metrics-sketch.ts';
import type { Projection } from './projection.ts';

export const METRICS_TABLES = [
  'rm_metrics',
  'rm_metrics_latency',
  'rm_metrics_open_tasks',
  'rm_metrics_open_runs',
  'rm_metrics_agents',
  'rm_metrics_clock',
];

const KEY =
  'tenant text, resolution text, scope text, bucket timestamptz, agent text, skill text, workflow text';
const KEY_COLUMNS = 'tenant, resolution, scope, bucket, agent, skill, workflow';

/**
 * The metrics projection with the given retention (a rebuild must use the live one's to equal it).
 *
 * @example
 * const projection = metricsProjection(config.metrics);
 */
export const metricsProjection = (retention: MetricsRetention = DEFAULT_METRICS_RETENTION): Projection => ({
  name: 'metrics',
  batchDelayMs: 250,
  tables: METRICS_TABLES,
  filter: { types: METRICS_EVENT_TYPES },
  migrations: [
    `CREATE TABLE rm_metrics (
       tenant text NOT NULL, resolution text NOT NULL, scope text NOT NULL, bucket timestamptz NOT NULL,
       agent text NOT NULL, skill text NOT NULL, workflow text NOT NULL,
       completed bigint NOT NULL DEFAULT 0, failed bigint NOT NULL DEFAULT 0,
       canceled bigint NOT NULL DEFAULT 0, rejected bigint NOT NULL DEFAULT 0,
       cost numeric NOT NULL DEFAULT 0, prompt_tokens bigint NOT NULL DEFAULT 0,
       completion_tokens bigint NOT NULL DEFAULT 0,
       PRIMARY KEY (${KEY_COLUMNS}));
     CREATE INDEX rm_metrics_age ON rm_metrics (resolution, bucket);
     CREATE TABLE rm_metrics_latency (
       tenant text NOT NULL, resolution text NOT NULL, scope text NOT NULL, bucket timestamptz NOT NULL,
       agent text NOT NULL, skill text NOT NULL, workflow text NOT NULL, kind text NOT NULL,
       bucket_index int NOT NULL, count bigint NOT NULL,
       PRIMARY KEY (${KEY_COLUMNS}, kind, bucket_index));
     CREATE INDEX rm_metrics_latency_age ON rm_metrics_latency (resolution, bucket);
     CREATE TABLE rm_metrics_open_tasks (task_id text PRIMARY KEY, task jsonb NOT NULL);
     CREATE TABLE rm_metrics_open_runs (run_id text PRIMARY KEY, run jsonb NOT NULL);
     CREATE TABLE rm_metrics_agents (agent_key text PRIMARY KEY, cost double precision NOT NULL);
     CREATE TABLE rm_metrics_clock (id int PRIMARY KEY, latest text NOT NULL, pruned_minute bigint NOT NULL)`,
  ],
  apply: (event, tx) => applyMetrics([event], tx, retention),
  applyBatch: (events, tx) => applyMetrics(events, tx, retention),
});

/** Reads what the batch touches: its tasks and runs, the agents they may name, the clock. */
const load = async (events: RecordedEvent[], tx: SqlExecutor) => {
  const taskIds = new Set<string>();
  const runIds = new Set<string>();
  const agentKeys = new Set<string>();
  for (const e of events) {
    const data = e.data as { agentKey?: unknown; agent?: unknown };
    if (e.stream.startsWith('task-')) taskIds.add(e.stream.slice('task-'.length));
    else if (e.stream.startsWith('wfrun-')) runIds.add(e.stream.slice('wfrun-'.length));
    else if (e.stream.startsWith('agent-')) agentKeys.add(e.stream.slice('agent-'.length));
    if (e.metadata.correlationId.startsWith('wfrun:')) runIds.add(e.metadata.correlationId.slice(6));
    if (typeof data.agentKey === 'string') agentKeys.add(data.agentKey);
    if (e.type === 'TaskSubmitted' && typeof data.agent === 'string')
      for (const key of namedAgentKeys(e.metadata.tenant, data.agent)) agentKeys.add(key);
  }
  const tasks = await tx.query<{ task: OpenTask }>(
    'SELECT task FROM rm_metrics_open_tasks WHERE task_id = ANY($1::text[])',
    [[...taskIds]],
  );
  for (const { task } of tasks) {
    if (task.runId) runIds.add(task.runId);
    if (task.agent) agentKeys.add(task.agent);
  }
  const runs = await tx.query<{ run: OpenRun }>(
    'SELECT run FROM rm_metrics_open_runs WHERE run_id = ANY($1::text[])',
    [[...runIds]],
  );
  const agents = await tx.query<{ agent_key: string; cost: number }>(
    'SELECT agent_key, cost FROM rm_metrics_agents WHERE agent_key = ANY($1::text[])',
    [[...agentKeys]],
  );
  const [clock] = await tx.query<{ latest: string; pruned_minute: string }>(
    'SELECT latest, pruned_minute FROM rm_metrics_clock WHERE id = 1',
  );
  const state: FoldState = {
    tasks: new Map(tasks.map(({ task }) => [task.taskId, task])),
    runs: new Map(runs.map(({ run }) => [run.runId, run])),
    costs: new Map(agents.map((a) => [a.agent_key, Number(a.cost)])),
  };
  return { state, clock: clock ? { latest: clock.latest, prunedMinute: Number(clock.pruned_minute) } : null };
};

/** Upserts the non-null entries of a map as jsonb rows and deletes the null ones. */
const save = async <T>(
  tx: SqlExecutor,
  table: string,
  id: string,
  column: string,
  map: Map<string, T | null>,
) => {
  const kept = [...map].flatMap(([key, value]) => (value ? [{ key, value }] : []));
  const gone = [...map].flatMap(([key, value]) => (value ? [] : [key]));
  if (kept.length)
    await tx.query(
      `INSERT INTO ${table} (${id}, ${column}) SELECT r.key, r.value FROM jsonb_to_recordset($1::text::jsonb)
         AS r(key text, value jsonb) ON CONFLICT (${id}) DO UPDATE SET ${column} = EXCLUDED.${column}`,
      [JSON.stringify(kept)],
    );
  if (gone.length) await tx.query(`DELETE FROM ${table} WHERE ${id} = ANY($1::text[])`, [gone]);
};

const applyMetrics = async (events: RecordedEvent[], tx: SqlExecutor, retention: MetricsRetention) => {
  if (events.length === 0) return;
  const { state, clock } = await load(events, tx);
  const { contributions, samples } = foldMetrics(events, state);

  let latest = clock?.latest ?? events[0]!.occurredAt;
  for (const e of events) if (Date.parse(e.occurredAt) > Date.parse(latest)) latest = e.occurredAt;
  const minute = bucketStart(Date.parse(latest), '1m');
  // Retention counts back from the minute of the latest event: the same cutoff whichever batch saw it.
  const cutoff = (r: Resolution) =>
    retention[r] > 0 ? bucketStart(minute - retention[r] * 60_000, r) : Number.NEGATIVE_INFINITY;
  const rows = <T extends { at: string }>(items: T[]) =>
    items.flatMap((item) =>
      RESOLUTIONS.flatMap((resolution) => {
        const bucket = bucketStart(Date.parse(item.at), resolution);
        return bucket < cutoff(resolution)
          ? []
          : [{ ...item, resolution, bucket: new Date(bucket).toISOString() }];
      }),
    );

  await save(tx, 'rm_metrics_open_tasks', 'task_id', 'task', state.tasks);
  await save(tx, 'rm_metrics_open_runs', 'run_id', 'run', state.runs);
  const agents = [...state.costs].flatMap(([key, cost]) => (cost === null ? [] : [{ key, cost }]));
  if (agents.length)
    await tx.query(
      `INSERT INTO rm_metrics_agents (agent_key, cost)
       SELECT key, cost FROM jsonb_to_recordset($1::text::jsonb)
         AS r(key text, cost double precision) ON CONFLICT (agent_key) DO UPDATE SET cost = EXCLUDED.cost`,
      [JSON.stringify(agents)],
    );
  const gone = [...state.costs].flatMap(([key, cost]) => (cost === null ? [key] : []));
  if (gone.length) await tx.query('DELETE FROM rm_metrics_agents WHERE agent_key = ANY($1::text[])', [gone]);

  const counted = rows(contributions);
  if (counted.length)
    // Summed in SQL (numeric cost): the same total whatever the batches were.
    await tx.query(
      `INSERT INTO rm_metrics AS m (${KEY_COLUMNS}, completed, failed, canceled, rejected, cost,
         prompt_tokens, completion_tokens)
       SELECT ${KEY_COLUMNS}, count(*) FILTER (WHERE outcome = 'completed'),
         count(*) FILTER (WHERE outcome = 'failed'), count(*) FILTER (WHERE outcome = 'canceled'),
         count(*) FILTER (WHERE outcome = 'rejected'), sum(cost), sum("promptTokens"), sum("completionTokens")
         FROM jsonb_to_recordset($1::text::jsonb) AS r(${KEY}, outcome text, cost numeric,
           "promptTokens" bigint, "completionTokens" bigint)
        GROUP BY ${KEY_COLUMNS}
       ON CONFLICT (${KEY_COLUMNS}) DO UPDATE SET completed = m.completed + EXCLUDED.completed,
         failed = m.failed + EXCLUDED.failed, canceled = m.canceled + EXCLUDED.canceled,
         rejected = m.rejected + EXCLUDED.rejected, cost = m.cost + EXCLUDED.cost,
         prompt_tokens = m.prompt_tokens + EXCLUDED.prompt_tokens,
         completion_tokens = m.completion_tokens + EXCLUDED.completion_tokens`,
      [JSON.stringify(counted)],
    );
  const timed = rows(samples).map(({ ms, ...s }) => ({ ...s, bucket_index: bucketOf(ms) }));
  if (timed.length)
    await tx.query(
      `INSERT INTO rm_metrics_latency AS l (${KEY_COLUMNS}, kind, bucket_index, count)
       SELECT ${KEY_COLUMNS}, kind, bucket_index, count(*)
         FROM jsonb_to_recordset($1::text::jsonb) AS r(${KEY}, kind text, bucket_index int)
        GROUP BY ${KEY_COLUMNS}, kind, bucket_index
       ON CONFLICT (${KEY_COLUMNS}, kind, bucket_index) DO UPDATE SET count = l.count + EXCLUDED.count`,
      [JSON.stringify(timed)],
    );

  const prunedMinute = clock?.prunedMinute ?? 0;
  if (minute > prunedMinute) {
    for (const r of RESOLUTIONS) {
      if (retention[r] <= 0) continue;
      const before = new Date(cutoff(r)).toISOString();
      for (const table of ['rm_metrics', 'rm_metrics_latency'])
        await tx.query(`DELETE FROM ${table} WHERE resolution = $1 AND bucket < $2::timestamptz`, [
          r,
          before,
        ]);
    }
  }
  await tx.query(
    `INSERT INTO rm_metrics_clock (id, latest, pruned_minute) VALUES (1, $1, $2)
     ON CONFLICT (id) DO UPDATE SET latest = EXCLUDED.latest, pruned_minute = EXCLUDED.pruned_minute`,
    [latest, Math.max(minute, prunedMinute)],
  );
};
