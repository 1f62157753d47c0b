/**
 * Two aggregates: a tenant's workflow (its versions) and a workflow run. The run decides everything the
 * saga (sagas/workflow.ts) then carries out: which step's task to submit next, retries, the branch a
 * decision takes, compensations in reverse order, the end. Pure: task ids are derived from the run id, the
 * step and the attempt, so deciding twice yields the same ids and a resubmitted step is the same task.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { TaskState, TERMINAL_STATES } from '../events/a2a.ts';
import type { WorkflowDefinitionEvent, WorkflowRunEvent } from '../events/workflow.ts';
import {
  conditionHolds,
  renderInput,
  type StepResult,
  type TaskNode,
  WorkflowDefinition,
} from '../workflows/definition.ts';
import { canonicalJson } from './agent.ts';
import { notFound, ruleViolated } from './errors.ts';
import type { Decider } from './handle.ts';

const at = z.string().datetime({ offset: false });

// ---- definitions --------------------------------------------------------------------------------------

export const WorkflowDefinitionCommand = z.object({
  type: z.literal('DefineWorkflow'),
  definition: WorkflowDefinition,
  at,
});
export type WorkflowDefinitionCommand = z.infer<typeof WorkflowDefinitionCommand>;
export interface WorkflowVersions {
  latest: { version: number; definition: WorkflowDefinition } | null;
}

/** A new version when the definition changed; the same definition again adds nothing. */
export const workflowDefinitionDecider: Decider<
  WorkflowDefinitionCommand,
  WorkflowVersions,
  WorkflowDefinitionEvent
> = {
  initialState: () => ({ latest: null }),
  decide: (command, state) => {
    const { latest } = state;
    // Canonical: a definition read back from the store (jsonb) has its keys in another order.
    if (latest && canonicalJson(latest.definition) === canonicalJson(command.definition)) return [];
    return [
      {
        type: 'WorkflowDefined',
        data: { version: (latest?.version ?? 0) + 1, definition: command.definition, at: command.at },
      },
    ];
  },
  evolve: (_state, event) => ({ latest: { version: event.data.version, definition: event.data.definition } }),
};

// ---- runs ---------------------------------------------------------------------------------------------

export const WorkflowRunCommand = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('StartRun'),
    runId: z.string().min(1),
    workflow: z.string().min(1),
    version: z.number().int().min(1),
    definition: WorkflowDefinition,
    input: z.string(),
    contextId: z.string().min(1),
    at,
  }),
  /** What became of a step's task (the saga reports its terminal or interrupted state). */
  z.object({
    type: z.literal('RecordStepOutcome'),
    taskId: z.string().min(1),
    state: TaskState,
    output: z.string(),
    at,
  }),
]);
export type WorkflowRunCommand = z.infer<typeof WorkflowRunCommand>;

interface Outstanding {
  stepId: string;
  attempt: number;
  compensation: boolean;
  taskId: string;
}

export interface WorkflowRun {
  runId: string | null;
  definition: WorkflowDefinition | null;
  input: string;
  status: 'none' | 'running' | 'compensating' | 'completed' | 'failed';
  /** The step whose task is in flight (steps run one at a time). */
  outstanding: Outstanding | null;
  waiting: boolean;
  results: Record<string, StepResult>;
  /** Steps completed, in order (compensation runs them backwards). */
  completed: string[];
  /** Compensations still to run, next first. */
  toCompensate: string[];
  compensated: string[];
  compensationFailed: string[];
  failure: { step: string; reason: string } | null;
  output: string | null;
}

const DEFAULT_COMPENSATION_ATTEMPTS = 3;

/** A UUID (v5 layout) from the run, the step, the attempt and whether it compensates: stable across retries of the decision. */
export const stepTaskId = (runId: string, stepId: string, attempt: number, compensation: boolean) => {
  const h = createHash('sha1')
    .update(`${runId}\0${stepId}\0${attempt}\0${compensation ? 'c' : 's'}`)
    .digest('hex');
  const variant = ((Number.parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
};

type RunEvent = WorkflowRunEvent;

const schedule = (
  run: WorkflowRun,
  stepId: string,
  attempt: number,
  compensation: boolean,
  now: string,
): RunEvent => {
  const node = run.definition!.nodes[stepId] as TaskNode;
  const call = compensation ? node.compensate! : node;
  return {
    type: 'WorkflowStepScheduled',
    data: {
      stepId,
      attempt,
      compensation,
      taskId: stepTaskId(run.runId!, stepId, attempt, compensation),
      agent: call.agent,
      input: renderInput(call.input, run.input, run.results),
      at: now,
    },
  };
};

/** From `from` (or the end when null), through decisions, to the next task to schedule or the run's end. */
const advance = (run: WorkflowRun, from: string | null, now: string, lastOutput: string): RunEvent[] => {
  const events: RunEvent[] = [];
  let current = from;
  while (current !== null) {
    const node = run.definition!.nodes[current]!;
    if (node.kind === 'task') return [...events, schedule(run, current, 1, false, now)];
    const index = node.cases.findIndex((c) => conditionHolds(c.when, run.results[c.when.step]));
    const next = index >= 0 ? node.cases[index]!.next : (node.otherwise ?? null);
    events.push({
      type: 'WorkflowBranchTaken',
      data: { nodeId: current, case: index >= 0 ? index : null, next, at: now },
    });
    current = next;
  }
  return [...events, { type: 'WorkflowRunCompleted', data: { output: lastOutput, at: now } }];
};

const nextCompensation = (run: WorkflowRun, remaining: string[], now: string): RunEvent => {
  const [next] = remaining;
  if (next) return schedule(run, next, 1, true, now);
  return {
    type: 'WorkflowRunFailed',
    data: {
      failedStep: run.failure!.step,
      reason: run.failure!.reason,
      compensated: run.compensated,
      compensationFailed: run.compensationFailed,
      at: now,
    },
  };
};

const evolveAll = (run: WorkflowRun, events: RunEvent[]) => events.reduce(workflowRunDecider.evolve, run);

const onOutcome = (
  run: WorkflowRun,
  o: Outstanding,
  state: TaskState,
  output: string,
  now: string,
): RunEvent[] => {
  const node = run.definition!.nodes[o.stepId] as TaskNode;
  const ids = { stepId: o.stepId, attempt: o.attempt, compensation: o.compensation, taskId: o.taskId };
  if (state === 'TASK_STATE_INPUT_REQUIRED' || state === 'TASK_STATE_AUTH_REQUIRED') {
    return run.waiting
      ? []
      : [{ type: 'WorkflowStepWaiting', data: { stepId: o.stepId, taskId: o.taskId, state, at: now } }];
  }
  if (!TERMINAL_STATES.has(state)) return [];
  if (state === 'TASK_STATE_COMPLETED') {
    const done: RunEvent = { type: 'WorkflowStepCompleted', data: { ...ids, output, at: now } };
    const after = evolveAll(run, [done]);
    if (o.compensation) return [done, nextCompensation(after, after.toCompensate, now)];
    return [done, ...advance(after, node.next ?? null, now, output)];
  }
  const maxAttempts = o.compensation
    ? (node.retry?.maxAttempts ?? DEFAULT_COMPENSATION_ATTEMPTS)
    : (node.retry?.maxAttempts ?? 1);
  const willRetry = o.attempt < maxAttempts;
  const reason = output || state.replace('TASK_STATE_', '').toLowerCase();
  const failed: RunEvent = {
    type: 'WorkflowStepFailed',
    data: { ...ids, state, error: reason, willRetry, at: now },
  };
  if (willRetry) return [failed, schedule(run, o.stepId, o.attempt + 1, o.compensation, now)];
  const after = evolveAll(run, [failed]);
  if (o.compensation) return [failed, nextCompensation(after, after.toCompensate, now)];
  // The failed step itself did not complete, so it is not compensated; those before it are, latest first.
  const steps = [...run.completed]
    .reverse()
    .filter((s) => (run.definition!.nodes[s] as TaskNode).compensate !== undefined);
  const started: RunEvent = {
    type: 'WorkflowCompensationStarted',
    data: { failedStep: o.stepId, reason, steps, at: now },
  };
  return [failed, started, nextCompensation(evolveAll(after, [started]), steps, now)];
};

export const workflowRunDecider: Decider<WorkflowRunCommand, WorkflowRun, RunEvent> = {
  initialState: () => ({
    runId: null,
    definition: null,
    input: '',
    status: 'none',
    outstanding: null,
    waiting: false,
    results: {},
    completed: [],
    toCompensate: [],
    compensated: [],
    compensationFailed: [],
    failure: null,
    output: null,
  }),
  decide: (command, run) => {
    switch (command.type) {
      case 'StartRun': {
        if (run.status !== 'none') {
          if (run.runId === command.runId) return []; // the same start again
          throw ruleViolated(`run ${run.runId} has already started`);
        }
        const started: RunEvent = {
          type: 'WorkflowRunStarted',
          data: {
            runId: command.runId,
            workflow: command.workflow,
            version: command.version,
            definition: command.definition,
            input: command.input,
            contextId: command.contextId,
            at: command.at,
          },
        };
        const after = evolveAll(run, [started]);
        return [started, ...advance(after, command.definition.start, command.at, command.input)];
      }
      case 'RecordStepOutcome': {
        if (run.status === 'none') throw notFound('workflow run');
        const o = run.outstanding;
        // A late or repeated report (another attempt's task, a step already recorded): nothing to do.
        if (!o || o.taskId !== command.taskId) return [];
        return onOutcome(run, o, command.state, command.output, command.at);
      }
    }
  },
  evolve: (run, event) => {
    switch (event.type) {
      case 'WorkflowRunStarted':
        return {
          ...run,
          runId: event.data.runId,
          definition: event.data.definition,
          input: event.data.input,
          status: 'running',
        };
      case 'WorkflowStepScheduled': {
        const { stepId, attempt, compensation, taskId } = event.data;
        return { ...run, outstanding: { stepId, attempt, compensation, taskId }, waiting: false };
      }
      case 'WorkflowStepWaiting':
        return { ...run, waiting: true };
      case 'WorkflowStepCompleted': {
        const { stepId, compensation, output } = event.data;
        if (compensation)
          return {
            ...run,
            outstanding: null,
            toCompensate: run.toCompensate.filter((s) => s !== stepId),
            compensated: [...run.compensated, stepId],
          };
        return {
          ...run,
          outstanding: null,
          results: { ...run.results, [stepId]: { state: 'TASK_STATE_COMPLETED', output } },
          completed: [...run.completed, stepId],
        };
      }
      case 'WorkflowStepFailed': {
        const { stepId, compensation, state, error, willRetry } = event.data;
        if (willRetry) return { ...run, outstanding: null };
        if (compensation)
          return {
            ...run,
            outstanding: null,
            toCompensate: run.toCompensate.filter((s) => s !== stepId),
            compensationFailed: [...run.compensationFailed, stepId],
          };
        return {
          ...run,
          outstanding: null,
          results: { ...run.results, [stepId]: { state, output: error } },
          failure: { step: stepId, reason: error },
        };
      }
      case 'WorkflowBranchTaken':
        return run;
      case 'WorkflowCompensationStarted':
        return { ...run, status: 'compensating', toCompensate: event.data.steps };
      case 'WorkflowRunCompleted':
        return { ...run, status: 'completed', outstanding: null, output: event.data.output };
      case 'WorkflowRunFailed':
        return { ...run, status: 'failed', outstanding: null };
    }
  },
};
