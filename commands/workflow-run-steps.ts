/**
 * The graph walk of a workflow run: from an outcome or a start, which steps to schedule next, when a branch,
 * map or swarm joins or hands on, when to retry, when to compensate and when the run ends. Each function
 * emits events on a `Decision`, which applies them to the run as it goes.
 */
import type { TaskState } from '../events/a2a.ts';
import { TERMINAL_STATES } from '../events/a2a.ts';
import { stepTaskId, type WorkflowRunEvent } from '../events/workflow.ts';
import {
  branchOwners,
  type MapNode,
  own,
  type ParallelNode,
  type StepNode,
  type SwarmNode,
  type TaskNode,
} from '../events/workflow-definition.ts';
import { formatBytes, truncateText } from '../infra/log-safe.ts';
import { conditionHolds, handoffOf, hopInput, itemsOf } from './step-results.ts';
import { AUTO_AGENT } from './task.ts';
import { jsonBytes, MAX_REASON_LENGTH } from './workflow-limits.ts';
import { type Call, evolveRun, type Outstanding, type WorkflowRun } from './workflow-run-state.ts';
import { renderWithin } from './workflow-template.ts';

const DEFAULT_COMPENSATION_ATTEMPTS = 3;

/** Decides a sequence of events, each applied to the run before the next is decided. */
export class Decision {
  readonly events: WorkflowRunEvent[] = [];
  constructor(
    public run: WorkflowRun,
    readonly now: string,
  ) {}
  emit(event: WorkflowRunEvent) {
    this.events.push(event);
    this.run = evolveRun(this.run, event);
  }
  get nodes() {
    return this.run.definition!.nodes;
  }
}

export const later = (at: string, ms: number) => new Date(Date.parse(at) + ms).toISOString();

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
export const walk = (d: Decision, from: string, target: string | null, lastOutput: string): void => {
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
export const compensateWhenSettled = (d: Decision) => {
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

export const onOutcome = (
  d: Decision,
  o: Outstanding,
  state: TaskState,
  output: string,
  timedOut = false,
) => {
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
