/** The tasks read model (rm_tasks) and its queries: ListTasks pages and a task's tenant. */
import { type TaskAggregate, taskDecider } from '../commands/task.ts';
import type { Task } from '../events/a2a.ts';
import type { RecordedEvent } from '../events/envelope.ts';
import { TaskEvent } from '../events/task.ts';
import type { SqlExecutor } from '../infra/sql/port.ts';
import type { Projection } from './projection.ts';

/** Tasks as ListTasks reads them: one row per task, the A2A Task JSON folded with the aggregate's own evolve. */
export const tasksProjection: Projection = {
  name: 'tasks',
  tables: ['rm_tasks'],
  filter: { streamPrefix: 'task-' },
  inline: true,
  migrations: [
    `CREATE TABLE rm_tasks (
       id text PRIMARY KEY, tenant text NOT NULL, context_id text NOT NULL, state text NOT NULL,
       status_at timestamptz NOT NULL, agent text, revision int NOT NULL, task jsonb NOT NULL);
     CREATE INDEX rm_tasks_list ON rm_tasks (tenant, status_at DESC, id DESC);
     CREATE INDEX rm_tasks_context ON rm_tasks (tenant, context_id, status_at DESC)`,
    // The task's size, so that ListTasks can stop a page at its byte budget before reading any task.
    `ALTER TABLE rm_tasks ADD COLUMN task_bytes int NOT NULL DEFAULT 0;
     UPDATE rm_tasks SET task_bytes = octet_length(task::text)`,
    // The read API's agent filter (GET /api/tasks?agent=): a rare agent otherwise walks every task.
    'CREATE INDEX rm_tasks_agent ON rm_tasks (tenant, agent, status_at DESC, id DESC)',
  ],
  apply: (event, tx) => applyTaskEvents([event], tx),
  applyBatch: (events, tx, prefetched) => applyTaskEvents(events, tx, prefetched as StoredRow[] | undefined),
  prefetch: (streams, tx) =>
    readRows(
      streams.map((s) => s.slice('task-'.length)),
      tx,
    ),
};

interface StoredRow {
  id: string;
  task: Task;
  agent: string | null;
  revision: number;
}

const readRows = (ids: string[], tx: SqlExecutor) =>
  tx.query<StoredRow>('SELECT id, task, agent, revision FROM rm_tasks WHERE id = ANY($1::text[])', [ids]);

/** A batch costs two statements whatever its size: read the touched rows, fold in memory, upsert them all. */
const applyTaskEvents = async (
  events: RecordedEvent[],
  tx: SqlExecutor,
  /** The touched rows as read at the start of the batch (inline: with the append, under its locks). */
  prefetched?: StoredRow[],
): Promise<void> => {
  // Every event counts for the row's revision (read-your-writes waits on it: tasks-caught-up.ts), even one
  // this projection has nothing to fold from.
  const byTask = new Map<string, Array<{ recorded: RecordedEvent; event: TaskEvent | null }>>();
  for (const recorded of events) {
    const parsed = TaskEvent.safeParse({ type: recorded.type, data: recorded.data });
    const id = recorded.stream.slice('task-'.length);
    const list = byTask.get(id) ?? [];
    list.push({ recorded, event: parsed.success ? parsed.data : null });
    byTask.set(id, list);
  }
  if (byTask.size === 0) return;
  const rows = prefetched ?? (await readRows([...byTask.keys()], tx));
  const stored = new Map(rows.map((r) => [r.id, r]));
  const upserts: unknown[] = [];
  for (const [id, list] of byTask) {
    const row = stored.get(id);
    // Each event is applied once, whichever way it comes (inline, then a catch-up or a rebuild again).
    const fresh = list.filter(({ recorded }) => recorded.revision > (row ? Number(row.revision) : -1));
    // A task's row starts at its first event: a later one without the row (a rebuild under way, that
    // will reach this task's start) is left to whoever brings the start.
    if (fresh.length === 0 || (!row && fresh[0]!.recorded.revision !== 0)) continue;
    let state: TaskAggregate = row
      ? { task: row.task, agent: row.agent, inputs: 0 }
      : taskDecider.initialState();
    for (const { event } of fresh) if (event) state = taskDecider.evolve(state, event);
    const { task, agent } = state;
    if (!task) continue;
    const last = fresh[fresh.length - 1]!.recorded;
    upserts.push({
      id: task.id,
      tenant: last.metadata.tenant,
      context_id: task.contextId,
      state: task.status.state,
      status_at: task.status.timestamp,
      agent,
      revision: last.revision,
      task,
    });
  }
  if (upserts.length === 0) return;
  await tx.query(
    `INSERT INTO rm_tasks (id, tenant, context_id, state, status_at, agent, revision, task, task_bytes)
     SELECT id, tenant, context_id, state, status_at, agent, revision, task, pg_column_size(task)
       FROM jsonb_to_recordset($1::text::jsonb) AS r(id text, tenant text, context_id text, state text,
         status_at timestamptz, agent text, revision int, task jsonb)
     ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, status_at = EXCLUDED.status_at,
       agent = EXCLUDED.agent, revision = EXCLUDED.revision, task = EXCLUDED.task,
       task_bytes = EXCLUDED.task_bytes`,
    [JSON.stringify(upserts)],
  );
};

/** The tenant a task belongs to, from its row (kept with the append): no payload is read. */
export const taskTenant = async (db: SqlExecutor, id: string): Promise<string | null> => {
  const [row] = await db.query<{ tenant: string }>('SELECT tenant FROM rm_tasks WHERE id = $1', [id]);
  return row?.tenant ?? null;
};

export interface TaskListQuery {
  tenant: string;
  contextId?: string;
  state?: string;
  /** Only tasks whose status changed after this instant. */
  statusAfter?: string;
  /** Keyset cursor: the page starts after this (status time, id), newest first. */
  after?: { at: string; id: string };
  limit: number;
  /**
   * The most a page holds, as the tasks' JSON: rows past it are left for the next page (the first row is
   * always returned), so a page of large tasks costs a bounded amount of memory however many are asked for.
   */
  maxBytes: number;
  /** Unset: the whole history; 0: none; N: the N most recent messages. */
  historyLength?: number;
  includeArtifacts: boolean;
}

export interface TaskListRow {
  id: string;
  status_at: string | Date;
  task: Task;
  total: string | number;
  /** Rows the query took before the byte budget cut the page (more than returned: there is more). */
  fetched: string | number;
  /** The size of `task` as returned (its jsonb form), what the page's byte budget counted. */
  bytes: string | number;
}

/**
 * The task JSON a page returns, cut down in SQL: without artifacts unless asked, with at most
 * `historyLength` messages. What is cut never leaves the database, so a page costs what it returns.
 */
const pageTask = (q: TaskListQuery, arg: (v: unknown) => string) => {
  let task = q.includeArtifacts ? 'task' : `(task - 'artifacts')`;
  if (q.historyLength === 0) return `(${task} - 'history')`;
  if (q.historyLength !== undefined) {
    const recent = `(SELECT COALESCE(jsonb_agg(h.m ORDER BY h.i), '[]'::jsonb)
        FROM jsonb_array_elements(task->'history') WITH ORDINALITY AS h(m, i)
        WHERE h.i > jsonb_array_length(task->'history') - ${arg(q.historyLength)}::int)`;
    task = `CASE WHEN jsonb_typeof(task->'history') = 'array' THEN jsonb_set(${task}, '{history}', ${recent}) ELSE ${task} END`;
  }
  return task;
};

/**
 * One page of a tenant's tasks, newest first, with the total of the filter: one statement, one snapshot, so
 * the page and the total never disagree while the projection moves on.
 */
export const listTaskRows = async (db: SqlExecutor, q: TaskListQuery): Promise<TaskListRow[]> => {
  const args: unknown[] = [];
  const arg = (v: unknown) => `$${args.push(v)}`;
  const where = [`tenant = ${arg(q.tenant)}`];
  if (q.contextId) where.push(`context_id = ${arg(q.contextId)}`);
  if (q.state) where.push(`state = ${arg(q.state)}`);
  if (q.statusAfter) where.push(`status_at > ${arg(q.statusAfter)}::timestamptz`);
  const filter = where.join(' AND ');
  const cursor = q.after ? `(status_at, id) < (${arg(q.after.at)}::timestamptz, ${arg(q.after.id)})` : 'true';
  // With the whole history asked for, the stored size of each task (task_bytes) bounds what it returns, so
  // the page is cut before any task is read; with history cut down, only the tasks as returned are counted.
  const storedBudget = q.historyLength === undefined ? q.maxBytes : Number.MAX_SAFE_INTEGER;
  const rows = await db.query<TaskListRow>(
    `WITH keys AS (
       SELECT id, status_at, task_bytes, (SELECT count(*) FROM rm_tasks WHERE ${filter}) AS total
         FROM rm_tasks WHERE ${filter} AND ${cursor}
        ORDER BY status_at DESC, id DESC LIMIT ${arg(q.limit)}::int),
     stored AS (
       SELECT k.*, count(*) OVER () AS fetched,
              sum(k.task_bytes) OVER (ORDER BY k.status_at DESC, k.id DESC) - k.task_bytes AS before
         FROM keys k),
     page AS (
       SELECT s.id, s.status_at, s.total, s.fetched, ${pageTask(q, arg)} AS task
         FROM stored s JOIN rm_tasks t ON t.id = s.id
        WHERE s.before < ${arg(storedBudget)}::bigint),
     sized AS (
       SELECT p.*, sum(pg_column_size(p.task)) OVER (ORDER BY p.status_at DESC, p.id DESC) - pg_column_size(p.task) AS before
         FROM page p)
     SELECT id, status_at, task, total, fetched, pg_column_size(task) AS bytes FROM sized
      WHERE before < ${arg(q.maxBytes)}
      ORDER BY status_at DESC, id DESC`,
    args,
  );
  return rows;
};

export interface TaskSearch {
  tenant: string;
  state?: string;
  agent?: string;
  contextId?: string;
  /** Tasks whose status last changed at or after / before this instant. */
  from?: string;
  to?: string;
  /** Words anywhere in the task (messages, artifacts, status), case-insensitive: a scan the other filters bound. */
  text?: string;
  after?: { at: string; id: string };
  limit: number;
}

export interface TaskSummary {
  id: string;
  contextId: string;
  state: string;
  agent: string | null;
  statusAt: string;
  revision: number;
}

/** A page of a tenant's tasks for dashboards, newest status first: the rows, not the tasks' JSON. */
export const searchTasks = async (db: SqlExecutor, q: TaskSearch): Promise<TaskSummary[]> => {
  const args: unknown[] = [];
  const arg = (v: unknown) => `$${args.push(v)}`;
  const where = [`tenant = ${arg(q.tenant)}`];
  if (q.state) where.push(`state = ${arg(q.state)}`);
  if (q.agent) where.push(`agent = ${arg(q.agent)}`);
  if (q.contextId) where.push(`context_id = ${arg(q.contextId)}`);
  if (q.from) where.push(`status_at >= ${arg(q.from)}::timestamptz`);
  if (q.to) where.push(`status_at < ${arg(q.to)}::timestamptz`);
  // LIKE's own wildcards in the words are matched literally.
  if (q.text) where.push(`task::text ILIKE ${arg(`%${q.text.replace(/[\\%_]/g, '\\$&')}%`)}`);
  if (q.after) where.push(`(status_at, id) < (${arg(q.after.at)}::timestamptz, ${arg(q.after.id)})`);
  const rows = await db.query<{
    id: string;
    context_id: string;
    state: string;
    agent: string | null;
    status_at: string | Date;
    revision: number;
  }>(
    `SELECT id, context_id, state, agent, status_at, revision FROM rm_tasks WHERE ${where.join(' AND ')}
      ORDER BY status_at DESC, id DESC LIMIT ${arg(q.limit)}::int`,
    args,
  );
  return rows.map((r) => ({
    id: r.id,
    contextId: r.context_id,
    state: r.state,
    agent: r.agent,
    statusAt: new Date(r.status_at).toISOString(),
    revision: Number(r.revision),
  }));
};

/** One task of a tenant as its row holds it (null: no such task for this tenant), with its revision. */
export const readTaskRow = async (
  db: SqlExecutor,
  tenant: string,
  id: string,
): Promise<{ task: Task; agent: string | null; revision: number } | null> => {
  const [row] = await db.query<{ task: Task; agent: string | null; revision: number }>(
    'SELECT task, agent, revision FROM rm_tasks WHERE id = $1 AND tenant = $2',
    [id, tenant],
  );
  return row ? { ...row, revision: Number(row.revision) } : null;
};
