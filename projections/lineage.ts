/**
 * The lineage read model: for every task and workflow run, the causal graph that produced it, as nodes
 * (rm_lineage_nodes) and cause → effect edges (rm_lineage_edges), per tenant, kept by the runner (async).
 *
 * Node kinds (`kind` is open text, what a kind holds is its `attributes` jsonb, so the model calls, tool calls
 * and MCP calls of later issues are new kinds, not a new schema; a reader shows an unknown kind as it is):
 *   task, upstream-task (another hub's task whose call made ours: the lineage extension, events/lineage.ts),
 *   routing-decision, remote-call, remote-task (the remote agent's task for our call), circuit-change,
 *   workflow-run, workflow-step, handoff, compensation; reserved: model-call, tool-call, mcp-call.
 * Edge kinds: upstream, routed, called, linked, changed (a call changed a circuit), influenced (a circuit
 * change a decision read), started, scheduled, ran, retried, handed-over, compensation, compensates, and
 * caused (from a causation id: the hub's command ids name the event that caused them).
 */

import { INTERRUPTED_STATES, TERMINAL_STATES } from '../events/a2a.ts';
import { CircuitEvent } from '../events/circuit.ts';
import type { RecordedEvent } from '../events/envelope.ts';
import { TaskEvent } from '../events/task.ts';
import type { SqlExecutor } from '../infra/sql/port.ts';
import { applyRunEvent } from './lineage-runs.ts';
import {
  addEdge,
  addNode,
  hasNode,
  LINEAGE_MIGRATIONS,
  LINEAGE_TABLES,
  latestNode,
  lineageIds,
  noteEvent,
  patchNode,
} from './lineage-store.ts';
import { LineageWrites } from './lineage-writes.ts';
import type { Projection } from './projection.ts';

export { lineageIds };

const ids = lineageIds;

/** The event types the graph is made of (the runner reads no others). */
const TYPES = [
  'TaskSubmitted',
  'TaskStatusUpdated',
  'TaskRouted',
  'TaskRoutingFailed',
  'RemoteCallIntended',
  'RemoteTaskLinked',
  'RemoteCallCompleted',
  'CircuitOpened',
  'CircuitHalfOpened',
  'CircuitClosed',
  'WorkflowRunStarted',
  'WorkflowStepScheduled',
  'WorkflowStepCompleted',
  'WorkflowStepFailed',
  'WorkflowStepWaiting',
  'WorkflowHandoff',
  'WorkflowCompensationStarted',
  'WorkflowRunCancelRequested',
  'WorkflowRunTimedOut',
  'WorkflowRunCompleted',
  'WorkflowRunFailed',
];

export const lineageProjection: Projection = {
  name: 'lineage',
  batchDelayMs: 250,
  tables: LINEAGE_TABLES,
  filter: { types: TYPES },
  migrations: LINEAGE_MIGRATIONS,
  apply: (event, tx) => applyLineage([event], tx),
  applyBatch: (events, tx) => applyLineage(events, tx),
};

/** A batch in a few statements: its writes buffered (projections/lineage-writes.ts), written at the end. */
const applyLineage = async (events: RecordedEvent[], tx: SqlExecutor) => {
  const w = new LineageWrites(tx);
  await w.prefetch(events);
  for (const event of events) {
    if (event.stream.startsWith('task-')) await applyTaskEvent(event, w);
    else if (event.stream.startsWith('wfrun-')) await applyRunEvent(event, w);
    else if (event.stream.startsWith('circuit-')) await applyCircuitEvent(event, w);
  }
  await w.flush();
};

const applyTaskEvent = async (recorded: RecordedEvent, w: LineageWrites) => {
  const parsed = TaskEvent.safeParse({ type: recorded.type, data: recorded.data });
  if (!parsed.success) return;
  const e = parsed.data;
  const taskId = recorded.stream.slice('task-'.length);
  const task = ids.task(taskId);
  switch (e.type) {
    case 'TaskSubmitted': {
      const up = e.data.upstream;
      const upstream = up ? ids.upstream(up.taskId ?? up.correlationId) : null;
      if (up && upstream) {
        const where = up.hub ? ` on ${up.hub}` : ' on the calling hub';
        await addNode(w, recorded, {
          id: upstream,
          kind: 'upstream-task',
          label: `${up.taskId ? `task ${up.taskId}` : `correlation ${up.correlationId}`}${where}`,
          subject: up.taskId ?? up.correlationId,
          attributes: { ...up },
        });
      }
      const { agent, contextId } = e.data;
      await addNode(
        w,
        recorded,
        {
          id: task,
          kind: 'task',
          label: agent ? `task for ${agent}` : 'task',
          subject: taskId,
          attributes: { taskId, contextId, agent, state: 'TASK_STATE_SUBMITTED' },
        },
        [[upstream, 'upstream']],
      );
      return;
    }
    case 'TaskStatusUpdated':
      patchNode(w, recorded, task, { state: e.data.state });
      // What a workflow reacts to (`wf-outcome:<this event's id>`): a later step links back to this task.
      if (TERMINAL_STATES.has(e.data.state) || INTERRUPTED_STATES.has(e.data.state))
        noteEvent(w, recorded, task);
      return;
    case 'TaskRouted':
    case 'TaskRoutingFailed': {
      const decision = ids.decision(recorded.id);
      const routed = e.type === 'TaskRouted';
      const { candidates, weights, limits } = e.data;
      await addNode(
        w,
        recorded,
        {
          id: decision,
          kind: 'routing-decision',
          label: routed ? `routed to ${e.data.agentKey}` : `not routed: ${e.data.reason}`,
          subject: taskId,
          attributes: {
            taskId,
            outcome: routed ? 'routed' : 'failed',
            ...(routed
              ? { agentKey: e.data.agentKey, skillId: e.data.skillId }
              : { reason: e.data.reason, explanation: e.data.explanation }),
            candidates,
            weights,
            limits,
          },
        },
        [[task, 'routed']],
      );
      // A candidate left out for its circuit: the circuit's last change is what the decision read.
      const shut = new Set(
        candidates
          .filter((c) => c.excludedBy === 'circuit-open' || c.excludedBy === 'probe-in-flight')
          .map((c) => c.agentKey),
      );
      for (const agentKey of [...shut].sort()) {
        const change = await latestNode(w, recorded, 'circuit-change', agentKey);
        if (change) addEdge(w, recorded, change, decision, 'influenced');
      }
      return;
    }
    case 'RemoteCallIntended': {
      const { callId, agentKey, attempt, idempotencyKey } = e.data;
      const call = ids.call(callId);
      if (await hasNode(w, recorded.metadata.tenant, call)) {
        patchNode(w, recorded, call, { attempts: attempt });
        return;
      }
      // The call id is its trigger's event id: a routing decision's, or the task's own submission.
      const decision = ids.decision(callId);
      const from = (await hasNode(w, recorded.metadata.tenant, decision)) ? decision : task;
      await addNode(
        w,
        recorded,
        {
          id: call,
          kind: 'remote-call',
          label: `call to ${agentKey}`,
          subject: agentKey,
          attributes: { taskId, callId, agentKey, attempts: attempt, idempotencyKey },
        },
        [[from, 'called']],
      );
      return;
    }
    case 'RemoteTaskLinked': {
      const { agentKey, callId, remoteTaskId, remoteContextId } = e.data;
      await addNode(
        w,
        recorded,
        {
          id: ids.remoteTask(agentKey, remoteTaskId),
          kind: 'remote-task',
          label: `task ${remoteTaskId} at ${agentKey}`,
          subject: remoteTaskId,
          attributes: { agentKey, taskId: remoteTaskId, contextId: remoteContextId },
        },
        [[ids.call(callId), 'linked']],
      );
      return;
    }
    case 'RemoteCallCompleted': {
      const { callId, ok, outcome, latencyMs, error } = e.data;
      patchNode(w, recorded, ids.call(callId), {
        ok,
        outcome,
        latencyMs,
        ...(error ? { error } : {}),
      });
      noteEvent(w, recorded, ids.call(callId));
      return;
    }
  }
};

const applyCircuitEvent = async (recorded: RecordedEvent, w: LineageWrites) => {
  const parsed = CircuitEvent.safeParse({ type: recorded.type, data: recorded.data });
  if (!parsed.success) return;
  const e = parsed.data;
  const node = (change: string, attributes: Record<string, unknown>, callId?: string) =>
    addNode(
      w,
      recorded,
      {
        id: ids.circuit(recorded.id),
        kind: 'circuit-change',
        label: `circuit of ${e.data.agentKey} ${change}`,
        subject: e.data.agentKey,
        attributes: { agentKey: e.data.agentKey, change, ...attributes },
      },
      [[callId ? ids.call(callId) : null, 'changed']],
    );
  switch (e.type) {
    case 'CircuitOpened': {
      const { until, failures, reason, callId } = e.data;
      return node('opened', { until, failures, reason, callId }, callId);
    }
    case 'CircuitHalfOpened':
      return node('half-opened', {});
    case 'CircuitClosed':
      return node('closed', { callId: e.data.callId }, e.data.callId);
  }
};
