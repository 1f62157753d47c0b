/** The workflow runs read model (rm_workflow_runs) and its query: a tenant's runs, filtered, newest first. */
import type { RecordedEvent } from '../events/envelope.ts';
import { WorkflowRunEvent } from '../events/workflow.ts';
import type { SqlExecutor } from '../infra/sql/port.ts';
import type { Projection } from './projection.ts';

/** Where a run is: `canceling` between a cancel request and the failure it ends in. */
export const RUN_STATUSES = ['running', 'canceling', 'compensating', 'completed', 'failed'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

interface RunRow {
  id: string;
  tenant: string;
  workflow: string;
  version: number;
  context_id: string;
  status: RunStatus;
  started_at: string;
  updated_at: string;
  ended_at: string | null;
  steps_scheduled: number;
  steps_completed: number;
  steps_failed: number;
  reason: string | null;
  revision: number;
}

/** How one event changes a run's row (pure): the row before, the row after. */
export const evolveRunRow = (row: RunRow | null, event: WorkflowRunEvent, recorded: RecordedEvent) => {
  if (event.type === 'WorkflowRunStarted') {
    const d = event.data;
    return {
      id: d.runId,
      tenant: recorded.metadata.tenant,
      workflow: d.workflow,
      version: d.version,
      context_id: d.contextId,
      status: 'running',
      started_at: d.at,
      updated_at: d.at,
      ended_at: null,
      steps_scheduled: 0,
      steps_completed: 0,
      steps_failed: 0,
      reason: null,
      revision: recorded.revision,
    } satisfies RunRow;
  }
  if (!row) return null;
  const next: RunRow = { ...row, updated_at: event.data.at, revision: recorded.revision };
  switch (event.type) {
    case 'WorkflowStepScheduled':
      next.steps_scheduled += 1;
      break;
    case 'WorkflowStepCompleted':
      next.steps_completed += 1;
      break;
    case 'WorkflowStepFailed':
      if (!event.data.willRetry) next.steps_failed += 1;
      break;
    case 'WorkflowRunCancelRequested':
      next.status = 'canceling';
      next.reason = event.data.reason;
      break;
    case 'WorkflowCompensationStarted':
      next.status = 'compensating';
      next.reason = event.data.reason;
      break;
    case 'WorkflowRunCompleted':
      next.status = 'completed';
      next.ended_at = event.data.at;
      break;
    case 'WorkflowRunFailed':
      next.status = 'failed';
      next.ended_at = event.data.at;
      next.reason = event.data.reason;
      break;
  }
  return next;
};

const readRows = (ids: string[], tx: SqlExecutor) =>
  tx.query<RunRow>('SELECT * FROM rm_workflow_runs WHERE id = ANY($1::text[])', [ids]);

/** Runs as dashboards list them: one row per run, with its status and step counts. */
export const workflowRunsProjection: Projection = {
  name: 'workflow-runs',
  tables: ['rm_workflow_runs'],
  filter: { streamPrefix: 'wfrun-' },
  migrations: [
    `CREATE TABLE rm_workflow_runs (
       id text PRIMARY KEY, tenant text NOT NULL, workflow text NOT NULL, version int NOT NULL,
       context_id text NOT NULL, status text NOT NULL, started_at timestamptz NOT NULL,
       updated_at timestamptz NOT NULL, ended_at timestamptz, steps_scheduled int NOT NULL,
       steps_completed int NOT NULL, steps_failed int NOT NULL, reason text, revision int NOT NULL);
     CREATE INDEX rm_workflow_runs_list ON rm_workflow_runs (tenant, started_at DESC, id DESC)`,
  ],
  apply: (event, tx) => applyRunEvents([event], tx),
  applyBatch: (events, tx) => applyRunEvents(events, tx),
};

/** Two statements a batch: read the touched rows, fold in memory, upsert them. */
const applyRunEvents = async (events: RecordedEvent[], tx: SqlExecutor) => {
  const ids = [...new Set(events.map((e) => e.stream.slice('wfrun-'.length)))];
  const rows = new Map((await readRows(ids, tx)).map((r) => [r.id, r]));
  const touched = new Set<string>();
  for (const recorded of events) {
    const parsed = WorkflowRunEvent.safeParse({ type: recorded.type, data: recorded.data });
    const id = recorded.stream.slice('wfrun-'.length);
    const row = rows.get(id) ?? null;
    // Each event once, whichever way it comes (a catch-up after a crash re-reads a batch).
    if (!parsed.success || (row && recorded.revision <= Number(row.revision))) continue;
    const next = evolveRunRow(row, parsed.data, recorded);
    if (!next) continue;
    rows.set(id, next);
    touched.add(id);
  }
  if (touched.size === 0) return;
  await tx.query(
    `INSERT INTO rm_workflow_runs
     SELECT * FROM jsonb_populate_recordset(NULL::rm_workflow_runs, $1::text::jsonb)
     ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, updated_at = EXCLUDED.updated_at,
       ended_at = EXCLUDED.ended_at, steps_scheduled = EXCLUDED.steps_scheduled,
       steps_completed = EXCLUDED.steps_completed, steps_failed = EXCLUDED.steps_failed,
       reason = EXCLUDED.reason, revision = EXCLUDED.revision`,
    [JSON.stringify([...touched].map((id) => rows.get(id)))],
  );
};

export interface RunListQuery {
  tenant: string;
  workflow?: string;
  status?: RunStatus;
  /** Runs started at or after / before this instant. */
  from?: string;
  to?: string;
  /** Keyset cursor: the page starts after this (start time, id), newest first. */
  after?: { at: string; id: string };
  limit: number;
}

export interface RunSummary {
  id: string;
  workflow: string;
  version: number;
  contextId: string;
  status: RunStatus;
  startedAt: string;
  updatedAt: string;
  endedAt: string | null;
  steps: { scheduled: number; completed: number; failed: number };
  reason: string | null;
}

const iso = (v: string | Date | null) => (v === null ? null : new Date(v).toISOString());

/** One page of a tenant's runs, newest first (index: tenant, started_at DESC, id DESC). */
export const listWorkflowRuns = async (db: SqlExecutor, q: RunListQuery): Promise<RunSummary[]> => {
  const args: unknown[] = [];
  const arg = (v: unknown) => `$${args.push(v)}`;
  const where = [`tenant = ${arg(q.tenant)}`];
  if (q.workflow) where.push(`workflow = ${arg(q.workflow)}`);
  if (q.status) where.push(`status = ${arg(q.status)}`);
  if (q.from) where.push(`started_at >= ${arg(q.from)}::timestamptz`);
  if (q.to) where.push(`started_at < ${arg(q.to)}::timestamptz`);
  if (q.after) where.push(`(started_at, id) < (${arg(q.after.at)}::timestamptz, ${arg(q.after.id)})`);
  const rows = await db.query<RunRow>(
    `SELECT * FROM rm_workflow_runs WHERE ${where.join(' AND ')}
      ORDER BY started_at DESC, id DESC LIMIT ${arg(q.limit)}::int`,
    args,
  );
  return rows.map((r) => ({
    id: r.id,
    workflow: r.workflow,
    version: Number(r.version),
    contextId: r.context_id,
    status: r.status,
    startedAt: iso(r.started_at)!,
    updatedAt: iso(r.updated_at)!,
    endedAt: iso(r.ended_at),
    steps: {
      scheduled: Number(r.steps_scheduled),
      completed: Number(r.steps_completed),
      failed: Number(r.steps_failed),
    },
    reason: r.reason,
  }));
};
