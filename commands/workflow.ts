/**
 * Two aggregates: a tenant's workflow (its versions) and a workflow run. The run decides everything the
 * saga (sagas/workflow.ts) then carries out: which step's task to submit next, retries, the branch a
 * decision takes, compensations in reverse order, the end. Pure: task ids are derived from the run id, the
 * step and the attempt, so deciding twice yields the same ids and a resubmitted step is the same task.
 */
import { z } from 'zod';
import { TaskState, TERMINAL_STATES } from '../events/a2a.ts';
import { derivedUuid } from '../events/envelope.ts';
import type { WorkflowDefinitionEvent, WorkflowRunEvent } from '../events/workflow.ts';
import {
  branchOwners,
  type Capability,
  type MapNode,
  own,
  type ParallelNode,
  type StepNode,
  type SwarmNode,
  type TaskNode,
  WorkflowDefinition,
} from '../events/workflow-definition.ts';
import { formatBytes, truncateText } from '../infra/log-safe.ts';
import { canonicalJson } from './agent.ts';
import { notFound, ruleViolated } from './errors.ts';
import type { Decider } from './handle.ts';
import { conditionHolds, handoffOf, hopInput, itemsOf } from './step-results.ts';
import { AUTO_AGENT } from './task.ts';
import { DEFAULT_WORKFLOW_LIMITS, jsonBytes, MAX_REASON_LENGTH } from './workflow-limits.ts';
import { renderWithin, type StepResult } from './workflow-template.ts';

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
    /** The largest rendered step input of this run (commands/workflow-limits.ts); recorded with the run. */
    maxStepInputBytes: z.number().int().min(1).optional(),
    at,
  }),
  /** Stops the run: steps in flight are given up and the completed ones compensated. */
  z.object({ type: z.literal('CancelRun'), reason: z.string().min(1), at }),
  /** The run's deadline has passed (the saga's timer): stopped as a cancel is, and failed as timed out. */
  z.object({ type: z.literal('TimeOutRun'), at }),
  /** A step's timeout has passed (the saga's timer): if its task has not ended, the attempt has failed. */
  z.object({ type: z.literal('TimeOutStep'), taskId: z.string().min(1), at }),
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

/** Who a scheduled task goes to and what it says (a retry sends the same). */
interface Call {
  agent: string;
  capability?: Capability;
  input: string;
}

interface Outstanding {
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

const DEFAULT_COMPENSATION_ATTEMPTS = 3;

/** A UUID (v5 layout) from the run, the step, the attempt, the iteration and whether it compensates. */
export const stepTaskId = (
  runId: string,
  stepId: string,
  attempt: number,
  compensation: boolean,
  iteration = 1,
) =>
  derivedUuid(
    `${runId}\0${stepId}\0${attempt}\0${compensation ? 'c' : 's'}${iteration > 1 ? `\0${iteration}` : ''}`,
  );

type RunEvent = WorkflowRunEvent;

/** Decides a sequence of events, each applied to the run before the next is decided. */
class Decision {
  readonly events: RunEvent[] = [];
  constructor(
    public run: WorkflowRun,
    readonly now: string,
  ) {}
  emit(event: RunEvent) {
    this.events.push(event);
    this.run = workflowRunDecider.evolve(this.run, event);
  }
  get nodes() {
    return this.run.definition!.nodes;
  }
}

const later = (at: string, ms: number) => new Date(Date.parse(at) + ms).toISOString();

/** Why a text of `bytes` cannot be a step's input or output, or null when it can. */
const oversize = (d: Decision, stepId: string, what: string, bytes: number): string | null =>
  bytes <= d.run.maxStepInputBytes
    ? null
    : `step '${stepId}': ${what} is ${formatBytes(bytes)}, over the ${formatBytes(d.run.maxStepInputBytes)} limit (AGENTCORE_MAX_STEP_INPUT_BYTES)`;

/** The bytes texts take side by side in an event (each with a separator), counted without joining them. */
const totalBytes = (texts: string[]): number => texts.reduce((sum, t) => sum + jsonBytes(t) + 1, 0);

/** What the definition says a step's task is (a map's: for item `iteration`), or why it cannot be sent. */
const callOf = (
  d: Decision,
  stepId: string,
  compensation: boolean,
  iteration: number,
): { call: Call } | { refused: string } => {
  const node = own(d.nodes, stepId) as StepNode;
  const spec = compensation && node.kind === 'task' ? node.compensate! : node;
  const item = node.kind === 'map' ? (own(d.run.maps, stepId)?.items[iteration - 1] ?? '') : '';
  const values = { input: d.run.input, results: d.run.results, item };
  const rendered = renderWithin(spec.input, values, d.run.maxStepInputBytes);
  if (!rendered.ok) return { refused: oversize(d, stepId, 'rendered input', rendered.bytes)! };
  return {
    call: {
      agent: spec.agent ?? AUTO_AGENT,
      ...(spec.capability ? { capability: spec.capability } : {}),
      input: rendered.text,
    },
  };
};

/**
 * A step that fails before its task is sent (its input is over the limit, a map's items are): failed for
 * good, as if its task had failed, so compensation runs and the run ends rather than waiting for nothing.
 */
const failUnsent = (d: Decision, stepId: string, compensation: boolean, iteration: number, error: string) => {
  const taskId = stepTaskId(d.run.runId!, stepId, 1, compensation, iteration);
  d.emit({
    type: 'WorkflowStepFailed',
    data: {
      ...{ stepId, attempt: 1, iteration, compensation, taskId },
      ...{ state: 'TASK_STATE_FAILED', error, willRetry: false, timedOut: false, at: d.now },
    },
  });
  if (compensation) nextCompensation(d);
  else compensateWhenSettled(d);
};

const schedule = (
  d: Decision,
  stepId: string,
  attempt: number,
  compensation: boolean,
  iteration = 1,
  given?: Call,
): boolean => {
  const node = own(d.nodes, stepId) as StepNode;
  const made = given ? { call: given } : callOf(d, stepId, compensation, iteration);
  if ('refused' in made) {
    failUnsent(d, stepId, compensation, iteration, made.refused);
    return false;
  }
  const { agent, capability, input } = made.call;
  const backoff =
    attempt > 1 && node.retry
      ? Math.min(node.retry.backoffMs * 2 ** (attempt - 2), node.retry.maxBackoffMs)
      : 0;
  const starts = backoff > 0 ? later(d.now, backoff) : d.now;
  d.emit({
    type: 'WorkflowStepScheduled',
    data: {
      stepId,
      attempt,
      iteration,
      compensation,
      taskId: stepTaskId(d.run.runId!, stepId, attempt, compensation, iteration),
      agent,
      ...(capability ? { capability } : {}),
      input,
      ...(backoff > 0 ? { notBefore: starts } : {}),
      ...(node.timeoutMs && !compensation ? { timeoutAt: later(starts, node.timeoutMs) } : {}),
      at: d.now,
    },
  });
  return true;
};

/** Walks from `target` (reached from `from`) through decisions and fan-outs to the steps to schedule. */
const walk = (d: Decision, from: string, target: string | null, lastOutput: string): void => {
  if (target === null) {
    endOfPath(d, from, lastOutput);
    return;
  }
  const node = own(d.nodes, target)!;
  if (node.kind === 'task' || node.kind === 'swarm') {
    schedule(d, target, 1, false);
    return;
  }
  if (node.kind === 'map') {
    const items = itemsOf(own(d.run.results, node.over)?.output ?? '', node.maxItems);
    const tooMany = oversize(d, target, `the list of ${items.length} items`, totalBytes(items));
    if (tooMany) {
      failUnsent(d, target, false, 1, tooMany);
      return;
    }
    d.emit({ type: 'WorkflowMapStarted', data: { nodeId: target, items, at: d.now } });
    if (items.length === 0) joinMap(d, target);
    for (let i = 1; i <= items.length; i++) if (!schedule(d, target, 1, false, i)) return;
    return;
  }
  if (node.kind === 'parallel') {
    d.emit({ type: 'WorkflowBranchesStarted', data: { nodeId: target, branches: node.branches, at: d.now } });
    // A branch that failed at once (an input over the limit) stops the others from starting.
    for (const b of node.branches) if (!d.run.failure) walk(d, target, b, lastOutput);
    return;
  }
  const index = node.cases.findIndex((c) => conditionHolds(c.when, own(d.run.results, c.when.step)));
  const next = index >= 0 ? node.cases[index]!.next : (node.otherwise ?? null);
  d.emit({
    type: 'WorkflowBranchTaken',
    data: { nodeId: target, case: index >= 0 ? index : null, next, at: d.now },
  });
  walk(d, target, next, lastOutput);
};

/** Every item of map `nodeId` is done: the map's output is theirs, and the run goes on after it. */
const joinMap = (d: Decision, nodeId: string): void => {
  const { items, outputs } = own(d.run.maps, nodeId)!;
  const parts = items.map((_, i) => outputs[i + 1] ?? '');
  const tooLarge = oversize(d, nodeId, 'the joined output', totalBytes(parts));
  if (tooLarge) {
    failUnsent(d, nodeId, false, 1, tooLarge);
    return;
  }
  const output = parts.join('\n');
  d.emit({ type: 'WorkflowMapJoined', data: { nodeId, output, at: d.now } });
  walk(d, nodeId, (own(d.nodes, nodeId) as MapNode).next ?? null, output);
};

/** A path ended at `nodeId`: its branch ends (the last one joins), or the run completes. */
const endOfPath = (d: Decision, nodeId: string, lastOutput: string): void => {
  const owner = branchOwners(d.nodes).owner.get(nodeId);
  if (!owner) {
    d.emit({ type: 'WorkflowRunCompleted', data: { output: lastOutput, at: d.now } });
    return;
  }
  d.emit({ type: 'WorkflowBranchEnded', data: { nodeId: owner, at: d.now } });
  if ((own(d.run.barriers, owner) ?? 0) > 0) return;
  d.emit({ type: 'WorkflowBranchesJoined', data: { nodeId: owner, at: d.now } });
  walk(d, owner, (own(d.nodes, owner) as ParallelNode).next ?? null, lastOutput);
};

const nextCompensation = (d: Decision) => {
  const [next] = d.run.toCompensate;
  if (next) return schedule(d, next, 1, true);
  d.emit({
    type: 'WorkflowRunFailed',
    data: {
      failedStep: d.run.failure!.step,
      reason: d.run.failure!.reason,
      compensated: d.run.compensated,
      compensationFailed: d.run.compensationFailed,
      at: d.now,
    },
  });
};

/** Once a step has failed for good and nothing else runs forward: compensate the completed steps, latest first. */
const compensateWhenSettled = (d: Decision) => {
  if (Object.values(d.run.outstanding).some((o) => !o.compensation)) return;
  const steps = [...d.run.completed].reverse().filter((s) => {
    const node = own(d.nodes, s);
    return node?.kind === 'task' && node.compensate !== undefined;
  });
  const { step, reason } = d.run.failure!;
  d.emit({ type: 'WorkflowCompensationStarted', data: { failedStep: step, reason, steps, at: d.now } });
  nextCompensation(d);
};

/** A swarm hop handed the work on: the next hop is routed by capability, or the hop bound fails the step. */
const handOn = (
  d: Decision,
  o: Outstanding,
  node: SwarmNode,
  output: string,
  handoff: { capability: string; note: string },
) => {
  const ids = stepIds(o);
  const fail = (error: string) => {
    d.emit({
      type: 'WorkflowStepFailed',
      data: { ...ids, state: 'TASK_STATE_FAILED', error, willRetry: false, timedOut: false, at: d.now },
    });
    compensateWhenSettled(d);
  };
  if (o.iteration >= node.maxHops)
    return fail(
      `no agent answered within ${node.maxHops} hops (the last one handed off to ${handoff.capability})`,
    );
  const before = own(d.run.swarms, o.stepId) ?? { input: o.call.input, handoffs: [] };
  const notes = [...before.handoffs, handoff].flatMap((h) => [h.capability, h.note]);
  // The next hop's input: the first one's, the notes, and a line of words per hop.
  const tooLarge = oversize(
    d,
    o.stepId,
    "the next hop's input",
    totalBytes([before.input, ...notes]) + 200 * o.iteration,
  );
  if (tooLarge) return fail(tooLarge);
  d.emit({ type: 'WorkflowHandoff', data: { ...ids, output, ...handoff, at: d.now } });
  const swarm = own(d.run.swarms, o.stepId)!;
  const { capability } = handoff;
  schedule(d, o.stepId, 1, false, o.iteration + 1, {
    agent: AUTO_AGENT,
    // By skill id or tag; the query (the capability's name) keeps semantic matches about the capability
    // rather than about the whole hand-over text.
    capability: { skill: capability, tags: [capability], query: capability },
    input: hopInput(swarm.input, swarm.handoffs, node.maxHops),
  });
};

const stepIds = (o: Outstanding) => ({
  stepId: o.stepId,
  attempt: o.attempt,
  iteration: o.iteration,
  compensation: o.compensation,
  taskId: o.taskId,
});

const onOutcome = (d: Decision, o: Outstanding, state: TaskState, output: string, timedOut = false) => {
  if (state === 'TASK_STATE_INPUT_REQUIRED' || state === 'TASK_STATE_AUTH_REQUIRED') {
    if (!o.waiting)
      d.emit({ type: 'WorkflowStepWaiting', data: { stepId: o.stepId, taskId: o.taskId, state, at: d.now } });
    return;
  }
  if (!TERMINAL_STATES.has(state)) return;
  if (state !== 'TASK_STATE_COMPLETED') return onFailed(d, o, state, output, timedOut);
  // An output over the limit would be a later step's input, and the run's events would carry it.
  const tooLarge = oversize(d, o.stepId, 'its output', jsonBytes(output));
  if (tooLarge) return onFailed(d, o, 'TASK_STATE_FAILED', tooLarge, timedOut);
  return onCompleted(d, o, output);
};

const onCompleted = (d: Decision, o: Outstanding, output: string) => {
  const node = own(d.nodes, o.stepId) as StepNode;
  const ids = stepIds(o);
  const handoff = node.kind === 'swarm' && !o.compensation ? handoffOf(output) : null;
  if (handoff && !d.run.failure) return handOn(d, o, node as SwarmNode, output, handoff);
  d.emit({ type: 'WorkflowStepCompleted', data: { ...ids, output, at: d.now } });
  if (o.compensation) return nextCompensation(d);
  if (d.run.failure) return compensateWhenSettled(d); // a sibling branch failed: no further steps
  if (node.kind === 'map') {
    const map = own(d.run.maps, o.stepId)!;
    if (Object.keys(map.outputs).length === map.items.length) joinMap(d, o.stepId);
    return;
  }
  const repeat = node.kind === 'task' ? node.repeat : undefined;
  const result = { state: 'TASK_STATE_COMPLETED', output };
  if (
    repeat &&
    o.iteration < repeat.maxIterations &&
    !conditionHolds({ step: o.stepId, ...repeat.until }, result)
  )
    return schedule(d, o.stepId, 1, false, o.iteration + 1);
  return walk(d, o.stepId, node.next ?? null, output);
};

const onFailed = (d: Decision, o: Outstanding, state: TaskState, output: string, timedOut: boolean) => {
  const node = own(d.nodes, o.stepId) as StepNode;
  const ids = stepIds(o);
  const maxAttempts = o.compensation
    ? ((node as TaskNode).retry?.maxAttempts ?? DEFAULT_COMPENSATION_ATTEMPTS)
    : (node.retry?.maxAttempts ?? 1);
  const willRetry = o.attempt < maxAttempts && (o.compensation || !d.run.failure);
  // A failed task's whole output is no reason to keep in every later event of the run.
  const reason = truncateText(output || state.replace('TASK_STATE_', '').toLowerCase(), MAX_REASON_LENGTH);
  d.emit({
    type: 'WorkflowStepFailed',
    data: { ...ids, state, error: reason, willRetry, timedOut, at: d.now },
  });
  if (willRetry) return schedule(d, o.stepId, o.attempt + 1, o.compensation, o.iteration, o.call);
  if (o.compensation) return nextCompensation(d);
  // The failed step itself did not complete, so it is not compensated; those before it are.
  compensateWhenSettled(d);
};

/** The steps in flight are given up: their tasks are canceled and their late answers ignored. */
const giveUp = (run: WorkflowRun, reason: string): WorkflowRun => {
  const given = Object.values(run.outstanding).filter((o) => !o.compensation);
  const outstanding = Object.fromEntries(Object.entries(run.outstanding).filter(([, o]) => o.compensation));
  return { ...run, outstanding, failure: { step: given[0]?.stepId ?? '', reason } };
};

export const workflowRunDecider: Decider<WorkflowRunCommand, WorkflowRun, RunEvent> = {
  initialState: () => ({
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
  }),
  decide: (command, run) => {
    switch (command.type) {
      case 'StartRun': {
        if (run.status !== 'none') {
          if (run.runId === command.runId) return []; // the same start again
          throw ruleViolated(`run ${run.runId} has already started`);
        }
        const d = new Decision(run, command.at);
        d.emit({
          type: 'WorkflowRunStarted',
          data: {
            runId: command.runId,
            workflow: command.workflow,
            version: command.version,
            definition: command.definition,
            input: command.input,
            contextId: command.contextId,
            ...(command.maxStepInputBytes ? { maxStepInputBytes: command.maxStepInputBytes } : {}),
            ...(command.definition.timeoutMs
              ? { deadline: later(command.at, command.definition.timeoutMs) }
              : {}),
            at: command.at,
          },
        });
        walk(d, command.definition.start, command.definition.start, command.input);
        return d.events;
      }
      case 'CancelRun':
      case 'TimeOutRun': {
        if (run.status === 'none') throw notFound('workflow run');
        // Ended, or already undoing what it did (a failure or an earlier cancel): nothing more to stop.
        if (run.status !== 'running' || run.failure) return [];
        const tasks = Object.values(run.outstanding)
          .filter((o) => !o.compensation)
          .map((o) => o.taskId);
        const d = new Decision(run, command.at);
        if (command.type === 'CancelRun')
          d.emit({
            type: 'WorkflowRunCancelRequested',
            data: { reason: command.reason, tasks, at: command.at },
          });
        else {
          if (!run.deadline) throw ruleViolated('the run has no time limit');
          if (Date.parse(command.at) < Date.parse(run.deadline))
            throw ruleViolated(`the run's deadline (${run.deadline}) has not passed`);
          d.emit({ type: 'WorkflowRunTimedOut', data: { deadline: run.deadline, tasks, at: command.at } });
        }
        compensateWhenSettled(d);
        return d.events;
      }
      case 'TimeOutStep': {
        if (run.status === 'none') throw notFound('workflow run');
        const o = own(run.outstanding, command.taskId);
        if (!o) return []; // it ended in time
        const node = own(run.definition!.nodes, o.stepId) as StepNode;
        const d = new Decision(run, command.at);
        onOutcome(d, o, 'TASK_STATE_CANCELED', `timed out after ${node.timeoutMs} ms`, true);
        return d.events;
      }
      case 'RecordStepOutcome': {
        if (run.status === 'none') throw notFound('workflow run');
        // A late or repeated report (another attempt's task, a step already recorded): nothing to do.
        const o = own(run.outstanding, command.taskId);
        if (!o) return [];
        const d = new Decision(run, command.at);
        onOutcome(d, o, command.state, command.output);
        return d.events;
      }
    }
  },
  evolve: (run, event) => {
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
  },
};
