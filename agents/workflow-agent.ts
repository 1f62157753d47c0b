/**
 * A workflow as an agent of the hub: a task for `workflow:<name>` (the A2A endpoint of the workflow sets it,
 * app/http.ts) starts a run of the tenant's workflow and follows it: each completed step is a status
 * update on the task, the run's output its artifact, a failed run a failed task. The run's id is the task's,
 * so a worker that dies mid-run and is redelivered the task finds the same run and says the same things
 * again (the same updates in the same order: the task recorder recognises them).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { fold, handle } from '../commands/handle.ts';
import { type TaskAggregate, taskDecider } from '../commands/task.ts';
import { waitingStep, workflowRunDecider } from '../commands/workflow-run.ts';
import type { Message } from '../events/a2a.ts';
import { isEvent } from '../events/envelope.ts';
import { type TaskEvent, taskStream } from '../events/task.ts';
import {
  runCorrelation,
  runStream,
  WorkflowHandoff,
  WorkflowRunCompleted,
  WorkflowRunFailed,
  WorkflowStepCompleted,
  WorkflowStepFailed,
  WorkflowStepWaiting,
  workflowStream,
} from '../events/workflow.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import { startWorkflowRun } from '../workflows/service.ts';
import { type Agent, type AgentUpdate, textOf } from './agent.ts';

export const WORKFLOW_AGENT_PREFIX = 'workflow:';

/** Resolves after `ms`, or at once when the signal aborts (timers/promises leaves no listener behind). */
const delay = (ms: number, signal: AbortSignal) => sleep(ms, undefined, { signal }).catch(() => {});

/** What a run's event says to the client of the parent task, if anything; `done` ends this agent run. */
const toUpdate = (event: { type: string; data: unknown }): { update?: AgentUpdate; done?: boolean } => {
  const text = (t: string): AgentUpdate => ({
    kind: 'status',
    state: 'TASK_STATE_WORKING',
    parts: [{ text: t }],
  });
  if (isEvent(WorkflowStepCompleted, event)) {
    const { compensation, stepId } = event.data;
    return { update: text(`${compensation ? 'compensated' : 'completed'} step ${stepId}`) };
  }
  if (isEvent(WorkflowStepFailed, event)) {
    const { stepId, attempt, error, willRetry } = event.data;
    return {
      update: text(`step ${stepId} attempt ${attempt} failed: ${error}${willRetry ? ' (retrying)' : ''}`),
    };
  }
  if (isEvent(WorkflowHandoff, event)) {
    return { update: text(`step ${event.data.stepId}: handed over to ${event.data.capability}`) };
  }
  if (isEvent(WorkflowRunCompleted, event)) {
    return {
      update: {
        kind: 'artifact',
        artifact: { artifactId: 'output', name: 'output', parts: [{ text: String(event.data.output) }] },
      },
      done: true,
    };
  }
  if (isEvent(WorkflowRunFailed, event)) {
    const { compensated, failedStep, reason } = event.data;
    return {
      update: {
        kind: 'status',
        state: 'TASK_STATE_FAILED',
        parts: [
          { text: `step ${failedStep} failed: ${reason}; compensated: ${compensated.join(', ') || 'none'}` },
        ],
      },
      done: true,
    };
  }
  return {};
};

/** The question a waiting step's task asked (its status message). */
const questionOf = async (store: EventStore, taskId: string): Promise<string> => {
  const task = fold<TaskAggregate, TaskEvent>(taskDecider, await store.readStream(taskStream(taskId))).task;
  return textOf(task?.status.message) || 'input required';
};

/**
 * A follow-up on the parent task answers the step that waits: it is passed on to that step's task (once:
 * the command id is the message's), and the run is followed from the wait on.
 */
const forwardToWaitingStep = async (
  store: EventStore,
  tenant: string,
  principal: string,
  runId: string,
  input: Message,
): Promise<number> => {
  const events = await store.readStream(runStream(runId));
  const run = fold(workflowRunDecider, events);
  const wait = events.filter((e) => e.type === 'WorkflowStepWaiting').at(-1);
  if (!wait) return 0;
  const step = waitingStep(run);
  if (step) {
    const { taskId } = step;
    await handle(
      store,
      taskStream(taskId),
      {
        type: 'ReceiveInput',
        message: { ...input, messageId: `wf-fwd-${input.messageId}`, taskId, contextId: undefined },
        at: new Date().toISOString(),
      },
      taskDecider,
      { tenant, principal, commandId: `wf-forward:${input.messageId}`, correlationId: runCorrelation(runId) },
    );
  }
  return wait.revision + 1;
};

/** The agent of the tenant's workflow `workflow:<name>`, or undefined when the tenant has no such workflow. */
export const workflowAgent = async (
  store: EventStore,
  tenant: string,
  agentName: string,
  pollMs = { min: 10, max: 200 },
): Promise<Agent | undefined> => {
  if (!agentName.startsWith(WORKFLOW_AGENT_PREFIX)) return undefined;
  const name = agentName.slice(WORKFLOW_AGENT_PREFIX.length);
  const [defined] = await store.readStream(workflowStream(tenant, name), { maxCount: 1 });
  if (!defined) return undefined;
  const principal = `agent:${agentName}`;
  return {
    id: agentName,
    name,
    description: `Workflow ${name}`,
    skills: [],
    async *run({ task, input, signal }) {
      const runId = task.id;
      const followUp = input.messageId !== task.history?.[0]?.messageId;
      let next = 0;
      if (followUp) next = await forwardToWaitingStep(store, tenant, principal, runId, input);
      else
        await startWorkflowRun(store, { tenant, principal }, name, textOf(input), {
          runId,
          contextId: task.contextId,
        });
      let wait = pollMs.min;
      while (!signal.aborted) {
        const events = await store.readStream(runStream(runId), { fromRevision: next });
        for (const e of events) {
          next = e.revision + 1;
          if (isEvent(WorkflowStepWaiting, e)) {
            // The parent task asks what the step asks; a follow-up to it is passed on (above).
            const { stepId, taskId } = e.data;
            const question = await questionOf(store, taskId);
            yield {
              kind: 'status',
              state: 'TASK_STATE_INPUT_REQUIRED',
              parts: [{ text: `${stepId}: ${question}` }],
            };
            return;
          }
          const { update, done } = toUpdate(e);
          if (update) yield update;
          if (done) return;
        }
        wait = events.length > 0 ? pollMs.min : Math.min(pollMs.max, wait * 2);
        await delay(wait, signal);
      }
    },
  };
};
