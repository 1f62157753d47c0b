/** The lineage projection's part for workflow runs: runs, steps, handoffs, compensations (projections/lineage.ts). */
import type { RecordedEvent } from '../events/envelope.ts';
import { runIdOfStream, WorkflowRunEvent } from '../events/workflow.ts';
import {
  addEdge,
  addNode,
  hasNode,
  lineageIds as ids,
  latestNode,
  nodesCausedAlike,
  patchNode,
} from './lineage-store.ts';
import type { LineageWrites } from './lineage-writes.ts';

export const applyRunEvent = async (recorded: RecordedEvent, w: LineageWrites) => {
  const parsed = WorkflowRunEvent.safeParse({ type: recorded.type, data: recorded.data });
  if (!parsed.success) return;
  const e = parsed.data;
  const runId = runIdOfStream(recorded.stream);
  const run = ids.run(runId);
  const tenant = recorded.metadata.tenant;
  switch (e.type) {
    case 'WorkflowRunStarted': {
      const { workflow, version } = e.data;
      // A run started by a task of the workflow's A2A endpoint has that task's id (agents/workflow-agent.ts).
      const parent = (await hasNode(w, tenant, ids.task(runId))) ? ids.task(runId) : null;
      await addNode(
        w,
        recorded,
        {
          id: run,
          kind: 'workflow-run',
          label: `run of ${workflow} v${version}`,
          subject: runId,
          attributes: { runId, workflow, version, state: 'running' },
        },
        [[parent, 'started']],
      );
      return;
    }
    case 'WorkflowStepScheduled': {
      const { stepId, attempt, iteration, compensation, taskId, agent, capability } = e.data;
      const step = ids.step(taskId);
      const earlier =
        attempt > 1
          ? await latestNode(w, recorded, 'workflow-step', runId, {
              stepId,
              iteration,
              compensation,
              attempt: attempt - 1,
            })
          : null;
      const compensating = compensation ? await latestNode(w, recorded, 'compensation', runId) : null;
      const handoffs = await nodesCausedAlike(w, recorded, 'handoff');
      await addNode(
        w,
        recorded,
        {
          id: step,
          kind: 'workflow-step',
          label: `${compensation ? 'compensation of ' : ''}step ${stepId}${attempt > 1 ? ` (attempt ${attempt})` : ''}`,
          subject: runId,
          attributes: {
            runId,
            stepId,
            attempt,
            iteration,
            compensation,
            taskId,
            agent,
            ...(capability ? { capability } : {}),
            state: 'scheduled',
          },
        },
        [
          [run, 'scheduled'],
          [earlier, 'retried'],
          [compensating, 'compensates'],
          ...handoffs.map((h) => [h, 'handed-over'] as const),
        ],
      );
      addEdge(w, recorded, step, ids.task(taskId), 'ran');
      return;
    }
    case 'WorkflowStepCompleted':
      return patchNode(w, recorded, ids.step(e.data.taskId), { state: 'completed' });
    case 'WorkflowStepFailed': {
      const { state, error, willRetry, timedOut } = e.data;
      return patchNode(w, recorded, ids.step(e.data.taskId), {
        state: 'failed',
        taskState: state,
        error,
        willRetry,
        timedOut,
      });
    }
    case 'WorkflowStepWaiting':
      return patchNode(w, recorded, ids.step(e.data.taskId), { state: 'waiting', taskState: e.data.state });
    case 'WorkflowHandoff': {
      const { stepId, taskId, capability, note } = e.data;
      const handoff = ids.handoff(recorded.id);
      await addNode(
        w,
        recorded,
        {
          id: handoff,
          kind: 'handoff',
          label: `handed over to ${capability}`,
          subject: runId,
          attributes: { runId, stepId, taskId, capability, note },
        },
        [[ids.step(taskId), 'handed-over']],
      );
      // The next hop, when the same command scheduled it before this event.
      for (const next of await nodesCausedAlike(w, recorded, 'workflow-step'))
        if (next !== ids.step(taskId)) addEdge(w, recorded, handoff, next, 'handed-over');
      return;
    }
    case 'WorkflowCompensationStarted': {
      const { failedStep, reason, steps } = e.data;
      const failed = await latestNode(w, recorded, 'workflow-step', runId, {
        stepId: failedStep,
        compensation: false,
      });
      await addNode(
        w,
        recorded,
        {
          id: ids.compensation(recorded.id),
          kind: 'compensation',
          label: `compensation after ${failedStep} failed`,
          subject: runId,
          attributes: { runId, failedStep, reason, steps },
        },
        [[failed, 'compensation']],
      );
      return;
    }
    case 'WorkflowRunCancelRequested':
      return patchNode(w, recorded, run, { state: 'canceling', cancelReason: e.data.reason });
    case 'WorkflowRunTimedOut':
      return patchNode(w, recorded, run, { state: 'timed-out', deadline: e.data.deadline });
    case 'WorkflowRunCompleted':
      return patchNode(w, recorded, run, { state: 'completed' });
    case 'WorkflowRunFailed': {
      const { failedStep, reason, compensated, compensationFailed } = e.data;
      return patchNode(w, recorded, run, {
        state: 'failed',
        failedStep,
        reason,
        compensated,
        compensationFailed,
      });
    }
  }
};
