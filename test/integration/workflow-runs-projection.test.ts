/**
 * The workflow runs read model, given events → then rows: a run that completes, one that is canceled and
 * compensated, another tenant's; a batch applied twice changes nothing; a rebuild equals the live model.
 * On PGlite in-process.
 */
import { randomUUID } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RecordedEvent } from '../../events/envelope.ts';
import { createPgliteEventStore } from '../../infra/event-store/pglite.ts';
import { pgliteDatabase } from '../../infra/sql/pglite.ts';
import { catchUp, migrateProjection, rebuild } from '../../projections/runner.ts';
import { listWorkflowRuns, workflowRunsProjection } from '../../projections/workflow-runs.ts';

const definition = { name: 'flow', start: 'a', nodes: { a: { kind: 'task', agent: 'echo', input: 'x' } } };
const at = (s: number) => new Date(Date.UTC(2026, 11, 7, 10, 0, s)).toISOString();
const A = randomUUID();
const B = randomUUID();
const C = randomUUID();
const step = (stepId: string, taskId: string) => ({
  stepId,
  attempt: 1,
  iteration: 1,
  compensation: false,
  taskId,
});

const started = (runId: string, s: number) => ({
  type: 'WorkflowRunStarted',
  data: {
    runId,
    workflow: 'flow',
    version: 2,
    definition,
    input: 'in',
    contextId: `ctx-${runId}`,
    at: at(s),
  },
});
const runs: Record<string, { tenant: string; events: Array<{ type: string; data: unknown }> }> = {
  [A]: {
    tenant: 'acme',
    events: [
      started(A, 0),
      { type: 'WorkflowStepScheduled', data: { ...step('a', 't1'), agent: 'echo', input: 'x', at: at(1) } },
      {
        type: 'WorkflowStepFailed',
        data: { ...step('a', 't1'), state: 'TASK_STATE_FAILED', error: 'no', willRetry: true, at: at(2) },
      },
      {
        type: 'WorkflowStepScheduled',
        data: { ...step('a', 't2'), attempt: 2, agent: 'echo', input: 'x', at: at(3) },
      },
      { type: 'WorkflowStepCompleted', data: { ...step('a', 't2'), attempt: 2, output: 'y', at: at(4) } },
      { type: 'WorkflowRunCompleted', data: { output: 'y', at: at(5) } },
    ],
  },
  [B]: {
    tenant: 'acme',
    events: [
      started(B, 10),
      { type: 'WorkflowStepScheduled', data: { ...step('a', 't3'), agent: 'echo', input: 'x', at: at(11) } },
      { type: 'WorkflowRunCancelRequested', data: { reason: 'operator', tasks: ['t3'], at: at(12) } },
      {
        type: 'WorkflowStepFailed',
        data: {
          ...step('a', 't3'),
          state: 'TASK_STATE_CANCELED',
          error: 'canceled',
          willRetry: false,
          at: at(13),
        },
      },
      {
        type: 'WorkflowRunFailed',
        data: {
          failedStep: 'a',
          reason: 'canceled: operator',
          compensated: [],
          compensationFailed: [],
          at: at(14),
        },
      },
    ],
  },
  [C]: { tenant: 'other', events: [started(C, 20)] },
};

const recorded = (): RecordedEvent[] => {
  let position = 0;
  return Object.entries(runs).flatMap(([runId, { tenant, events }]) =>
    events.map((e, revision) => ({
      id: randomUUID(),
      stream: `wfrun-${runId}`,
      revision,
      position: ++position,
      type: e.type,
      schemaVersion: 1,
      occurredAt: at(0),
      data: e.data,
      metadata: { tenant, principal: 'test', correlationId: `wfrun:${runId}`, causationId: null },
    })),
  );
};

test('given run events, then one row per run with its status, step counts and times', async () => {
  const pg = await PGlite.create();
  const db = pgliteDatabase(pg);
  await migrateProjection(db, workflowRunsProjection);
  const events = recorded();
  await db.transaction((tx) => workflowRunsProjection.applyBatch!(events.slice(0, 4), tx));
  await db.transaction((tx) => workflowRunsProjection.applyBatch!(events.slice(2), tx)); // overlaps: applied once
  const acme = await listWorkflowRuns(db, { tenant: 'acme', limit: 10 });
  assert.equal(
    acme.map((r) => [r.id, r.status, r.steps, r.reason, r.endedAt]),
    [
      [B, 'failed', { scheduled: 1, completed: 0, failed: 1 }, 'canceled: operator', at(14)],
      [A, 'completed', { scheduled: 2, completed: 1, failed: 0 }, null, at(5)],
    ],
  );
  assert.equal(
    (await listWorkflowRuns(db, { tenant: 'other', limit: 10 })).map((r) => [r.id, r.status, r.version]),
    [[C, 'running', 2]],
  );
  assert.equal(
    (await listWorkflowRuns(db, { tenant: 'acme', status: 'completed', limit: 10 })).map((r) => r.id),
    [A],
  );
  assert.equal(
    (await listWorkflowRuns(db, { tenant: 'acme', from: at(10), limit: 10 })).map((r) => r.id),
    [B],
  );
  const [first] = await listWorkflowRuns(db, { tenant: 'acme', limit: 1 });
  assert.equal(
    (
      await listWorkflowRuns(db, {
        tenant: 'acme',
        limit: 10,
        after: { at: first!.startedAt, id: first!.id },
      })
    ).map((r) => r.id),
    [A],
  );
  await pg.close();
});

test('a rebuild from the log equals the model kept live', async () => {
  const pg = await PGlite.create();
  const db = pgliteDatabase(pg);
  const store = await createPgliteEventStore({ db: pg });
  for (const [runId, { tenant, events }] of Object.entries(runs))
    await store.append(
      `wfrun-${runId}`,
      events.map((e) => ({
        id: randomUUID(),
        ...e,
        metadata: { tenant, principal: 'test', correlationId: `wfrun:${runId}`, causationId: null },
      })),
    );
  await migrateProjection(db, workflowRunsProjection);
  await catchUp(db, store, workflowRunsProjection);
  const dump = () => db.query('SELECT * FROM rm_workflow_runs ORDER BY id');
  const live = await dump();
  assert.is(live.length, 3);
  await rebuild(db, store, workflowRunsProjection);
  assert.equal(await dump(), live);
  await pg.close();
});

test.run();
