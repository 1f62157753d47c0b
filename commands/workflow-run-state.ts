/**
 * A workflow run's state and how each of its events changes it (the decider's `evolve`): the steps in
 * flight, the branches and maps open, the results so far, and what is left to compensate.
 */
import type { WorkflowRunEvent } from '../events/workflow.ts';
import type { Capability, WorkflowDefinition } from '../events/workflow-definition.ts';
import { own } from '../events/workflow-definition.ts';
import { DEFAULT_WORKFLOW_LIMITS } from './workflow-limits.ts';
import type { StepResult } from './workflow-template.ts';

/** Who a scheduled task goes to and what it says (a retry sends the same). */
export interface Call {
  agent: string;
  capability?: Capability;
  input: string;
}

export interface Outstanding {
  stepId: string;
  attempt: number;
  iteration: number;
  compensation: boolean;
  taskId: string;
  call: Call;
  /** Its task is input-required or auth-required: the run waits for an answer to it. */
  waiting: boolean;
}

export interface WorkflowRun {
  runId: string | null;
  definition: WorkflowDefinition | null;
  input: string;
  deadline: string | null;
  /** A step's rendered input, and any step's output, larger than this fails the step. */
  maxStepInputBytes: number;
  status: 'none' | 'running' | 'compensating' | 'completed' | 'failed';
  /** The steps whose tasks are in flight, by task id (several at once in parallel branches). */
  outstanding: Record<string, Outstanding>;
  /** Parallel nodes whose branches run, with how many have not ended yet. */
  barriers: Record<string, number>;
  /** Map nodes whose items run: their items, and the outputs of those done (by item number, from 1). */
  maps: Record<string, { items: string[]; outputs: Record<number, string> }>;
  /** Swarm nodes that have handed on: their first hop's input and the hand-overs so far. */
  swarms: Record<string, { input: string; handoffs: Array<{ capability: string; note: string }> }>;
  results: Record<string, StepResult>;
  /** Steps completed, in order (compensation runs them backwards). */
  completed: string[];
  /** Compensations still to run, next first. */
  toCompensate: string[];
  compensated: string[];
  compensationFailed: string[];
  /** The first step that failed for good; compensation starts once no other step is in flight. */
  failure: { step: string; reason: string } | null;
  output: string | null;
}

/** The step of the run that waits for an answer (its task asked for input), if any. */
export const waitingStep = (run: WorkflowRun): Outstanding | undefined =>
  Object.values(run.outstanding).find((o) => o.waiting);

/** The steps in flight are given up: their tasks are canceled and their late answers ignored. */
const giveUp = (run: WorkflowRun, reason: string): WorkflowRun => {
  const given = Object.values(run.outstanding).filter((o) => !o.compensation);
  const outstanding = Object.fromEntries(Object.entries(run.outstanding).filter(([, o]) => o.compensation));
  return { ...run, outstanding, failure: { step: given[0]?.stepId ?? '', reason } };
};

export const initialRun = (): WorkflowRun => ({
  runId: null,
  definition: null,
  input: '',
  deadline: null,
  maxStepInputBytes: DEFAULT_WORKFLOW_LIMITS.maxStepInputBytes,
  status: 'none',
  outstanding: {},
  barriers: {},
  maps: {},
  swarms: {},
  results: {},
  completed: [],
  toCompensate: [],
  compensated: [],
  compensationFailed: [],
  failure: null,
  output: null,
});

export const evolveRun = (run: WorkflowRun, event: WorkflowRunEvent): WorkflowRun => {
  const without = (taskId: string) => {
    const { [taskId]: _, ...rest } = run.outstanding;
    return rest;
  };
  switch (event.type) {
    case 'WorkflowRunStarted':
      return {
        ...run,
        runId: event.data.runId,
        definition: event.data.definition,
        input: event.data.input,
        deadline: event.data.deadline ?? null,
        maxStepInputBytes: event.data.maxStepInputBytes ?? DEFAULT_WORKFLOW_LIMITS.maxStepInputBytes,
        status: 'running',
      };
    case 'WorkflowStepScheduled': {
      const { stepId, attempt, iteration, compensation, taskId, agent, capability, input } = event.data;
      const call = { agent, ...(capability ? { capability } : {}), input };
      return {
        ...run,
        outstanding: {
          ...run.outstanding,
          [taskId]: { stepId, attempt, iteration, compensation, taskId, call, waiting: false },
        },
      };
    }
    case 'WorkflowStepWaiting': {
      const o = own(run.outstanding, event.data.taskId);
      return o ? { ...run, outstanding: { ...run.outstanding, [o.taskId]: { ...o, waiting: true } } } : run;
    }
    case 'WorkflowStepCompleted': {
      const { stepId, compensation, output, taskId } = event.data;
      if (compensation)
        return {
          ...run,
          outstanding: without(taskId),
          toCompensate: run.toCompensate.filter((s) => s !== stepId),
          compensated: [...run.compensated, stepId],
        };
      const map = own(run.maps, stepId);
      if (map)
        return {
          ...run,
          outstanding: without(taskId),
          maps: {
            ...run.maps,
            [stepId]: { ...map, outputs: { ...map.outputs, [event.data.iteration]: output } },
          },
        };
      return {
        ...run,
        outstanding: without(taskId),
        results: { ...run.results, [stepId]: { state: 'TASK_STATE_COMPLETED', output } },
        completed: run.completed.includes(stepId) ? run.completed : [...run.completed, stepId],
      };
    }
    case 'WorkflowStepFailed': {
      const { stepId, compensation, state, error, willRetry, taskId } = event.data;
      if (willRetry) return { ...run, outstanding: without(taskId) };
      if (compensation)
        return {
          ...run,
          outstanding: without(taskId),
          toCompensate: run.toCompensate.filter((s) => s !== stepId),
          compensationFailed: [...run.compensationFailed, stepId],
        };
      return {
        ...run,
        outstanding: without(taskId),
        results: { ...run.results, [stepId]: { state, output: error } },
        failure: run.failure ?? { step: stepId, reason: error },
      };
    }
    case 'WorkflowHandoff': {
      const { stepId, taskId, capability, note } = event.data;
      const swarm = own(run.swarms, stepId) ?? {
        input: own(run.outstanding, taskId)?.call.input ?? '',
        handoffs: [],
      };
      return {
        ...run,
        outstanding: without(taskId),
        swarms: {
          ...run.swarms,
          [stepId]: { ...swarm, handoffs: [...swarm.handoffs, { capability, note }] },
        },
      };
    }
    case 'WorkflowBranchTaken':
      return run;
    case 'WorkflowBranchesStarted':
      return { ...run, barriers: { ...run.barriers, [event.data.nodeId]: event.data.branches.length } };
    case 'WorkflowBranchEnded': {
      const id = event.data.nodeId;
      return { ...run, barriers: { ...run.barriers, [id]: (own(run.barriers, id) ?? 1) - 1 } };
    }
    case 'WorkflowBranchesJoined': {
      const { [event.data.nodeId]: _, ...barriers } = run.barriers;
      return { ...run, barriers };
    }
    case 'WorkflowMapStarted':
      return {
        ...run,
        maps: { ...run.maps, [event.data.nodeId]: { items: event.data.items, outputs: {} } },
      };
    case 'WorkflowMapJoined': {
      const { [event.data.nodeId]: _, ...maps } = run.maps;
      const id = event.data.nodeId;
      return {
        ...run,
        maps,
        results: { ...run.results, [id]: { state: 'TASK_STATE_COMPLETED', output: event.data.output } },
        completed: [...run.completed, id],
      };
    }
    case 'WorkflowRunCancelRequested':
      return giveUp(run, `canceled: ${event.data.reason}`);
    case 'WorkflowRunTimedOut':
      return giveUp(run, `timed out: the run's deadline ${event.data.deadline} passed`);
    case 'WorkflowCompensationStarted':
      return { ...run, status: 'compensating', toCompensate: event.data.steps };
    case 'WorkflowRunCompleted':
      return { ...run, status: 'completed', outstanding: {}, output: event.data.output };
    case 'WorkflowRunFailed':
      return { ...run, status: 'failed', outstanding: {} };
  }
};
