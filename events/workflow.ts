/** The workflow aggregates' events: a definition's versions, and a run's steps, branches and outcome. */
import { z } from 'zod';
import { TaskState } from './a2a.ts';
import { derivedUuid } from './envelope.ts';
import { Capability, WorkflowDefinition } from './workflow-definition.ts';

/** A tenant's workflow, all its versions: `workflow-<tenant>:<name>`. */
export const workflowStream = (tenant: string, name: string) => `workflow-${tenant}:${name}`;
/** One run: `wfrun-<run id>`. */
export const runStream = (runId: string) => `wfrun-${runId}`;
export const runIdOfStream = (stream: string) => stream.slice('wfrun-'.length);
/**
 * A step's task id, a UUID (v5 layout) from the run, the step, the attempt, the iteration and whether it
 * compensates: deciding twice yields the same id, so a resubmitted step is the same task.
 */
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
/**
 * The run a start under an `Idempotency-Key` makes: the same tenant, workflow and key always name the same
 * run, so retries of the request (at once, or on two edges) find it rather than making another.
 */
export const runIdForKey = (tenant: string, workflow: string, key: string): string =>
  derivedUuid(`wf-run-key\0${tenant}\0${workflow}\0${key}`);
/** Correlation id of every task a run schedules: the saga finds the run from a task event alone. */
export const runCorrelation = (runId: string) => `wfrun:${runId}`;
export const runIdOfCorrelation = (correlationId: string): string | null =>
  correlationId.startsWith('wfrun:') ? correlationId.slice('wfrun:'.length) : null;

export const WorkflowDefined = z.object({
  type: z.literal('WorkflowDefined'),
  data: z.object({ version: z.number().int().min(1), definition: WorkflowDefinition, at: z.string() }),
});
export type WorkflowDefinitionEvent = z.infer<typeof WorkflowDefined>;

/** The run keeps the definition it started with, whatever versions come later. */
export const WorkflowRunStarted = z.object({
  type: z.literal('WorkflowRunStarted'),
  data: z.object({
    runId: z.string(),
    workflow: z.string(),
    version: z.number().int().min(1),
    definition: WorkflowDefinition,
    input: z.string(),
    contextId: z.string(),
    /** The run's time limit (the definition's `timeoutMs` from the start): past it, the run is given up. */
    deadline: z.string().optional(),
    /** The largest step input (and output) of this run, from AGENTCORE_MAX_STEP_INPUT_BYTES at its start. */
    maxStepInputBytes: z.number().int().min(1).optional(),
    at: z.string(),
  }),
});
/** Which attempt of which step (or of its compensation) an event is about, and the task that runs it. */
const stepAttempt = {
  stepId: z.string(),
  attempt: z.number().int().min(1),
  /** Of a repeating step (a bounded loop), 1 for the first run. */
  iteration: z.number().int().min(1).default(1),
  compensation: z.boolean(),
  taskId: z.string(),
};
/** A step's task (or its compensation's) to be submitted; the task id is derived, so resubmitting is a no-op. */
export const WorkflowStepScheduled = z.object({
  type: z.literal('WorkflowStepScheduled'),
  data: z.object({
    ...stepAttempt,
    /** `auto` when the step names a capability: routing picks the agent. */
    agent: z.string(),
    capability: Capability.optional(),
    input: z.string(),
    /** A retry after a backoff: the task is submitted at this time, not before. */
    notBefore: z.string().optional(),
    /** The step's timeout: its task is canceled if still running then (the attempt fails). */
    timeoutAt: z.string().optional(),
    at: z.string(),
  }),
});
export const WorkflowStepCompleted = z.object({
  type: z.literal('WorkflowStepCompleted'),
  data: z.object({
    ...stepAttempt,
    output: z.string(),
    at: z.string(),
  }),
});
export const WorkflowStepFailed = z.object({
  type: z.literal('WorkflowStepFailed'),
  data: z.object({
    ...stepAttempt,
    state: TaskState,
    error: z.string(),
    /** Another attempt follows (a WorkflowStepScheduled with attempt + 1). */
    willRetry: z.boolean(),
    /** The step ran out of time: its task is canceled (by the saga). */
    timedOut: z.boolean().default(false),
    at: z.string(),
  }),
});
/** A swarm hop handed the work on: the next hop goes to an agent with this capability. */
export const WorkflowHandoff = z.object({
  type: z.literal('WorkflowHandoff'),
  data: z.object({
    ...stepAttempt,
    output: z.string(),
    capability: z.string(),
    note: z.string(),
    at: z.string(),
  }),
});
/** The step's task waits for a human (input-required, auth-required): so does the run. */
export const WorkflowStepWaiting = z.object({
  type: z.literal('WorkflowStepWaiting'),
  data: z.object({ stepId: z.string(), taskId: z.string(), state: TaskState, at: z.string() }),
});
export const WorkflowBranchTaken = z.object({
  type: z.literal('WorkflowBranchTaken'),
  data: z.object({
    nodeId: z.string(),
    /** Index of the case that held, or null for `otherwise` / no branch. */
    case: z.number().int().min(0).nullable(),
    next: z.string().nullable(),
    at: z.string(),
  }),
});
/** A parallel node's branches start (fan-out). */
export const WorkflowBranchesStarted = z.object({
  type: z.literal('WorkflowBranchesStarted'),
  data: z.object({ nodeId: z.string(), branches: z.array(z.string()), at: z.string() }),
});
/** One branch of a parallel node reached its end. */
export const WorkflowBranchEnded = z.object({
  type: z.literal('WorkflowBranchEnded'),
  data: z.object({ nodeId: z.string(), at: z.string() }),
});
/** Every branch of a parallel node has ended (fan-in): the run goes on after it. */
export const WorkflowBranchesJoined = z.object({
  type: z.literal('WorkflowBranchesJoined'),
  data: z.object({ nodeId: z.string(), at: z.string() }),
});
/** A map node fans out: one task per item. */
export const WorkflowMapStarted = z.object({
  type: z.literal('WorkflowMapStarted'),
  data: z.object({ nodeId: z.string(), items: z.array(z.string()), at: z.string() }),
});
/** Every item of a map node is done: its output is theirs, one per line, in item order. */
export const WorkflowMapJoined = z.object({
  type: z.literal('WorkflowMapJoined'),
  data: z.object({ nodeId: z.string(), output: z.string(), at: z.string() }),
});
/** The run is canceled: its steps in flight are given up (their tasks canceled), then compensation runs. */
export const WorkflowRunCancelRequested = z.object({
  type: z.literal('WorkflowRunCancelRequested'),
  data: z.object({ reason: z.string(), tasks: z.array(z.string()), at: z.string() }),
});
/** The run's deadline passed: like a cancel, its steps in flight are given up, then compensation runs. */
export const WorkflowRunTimedOut = z.object({
  type: z.literal('WorkflowRunTimedOut'),
  data: z.object({ deadline: z.string(), tasks: z.array(z.string()), at: z.string() }),
});
/** A step failed for good: the completed steps' compensations run next, most recent first. */
export const WorkflowCompensationStarted = z.object({
  type: z.literal('WorkflowCompensationStarted'),
  data: z.object({ failedStep: z.string(), reason: z.string(), steps: z.array(z.string()), at: z.string() }),
});
export const WorkflowRunCompleted = z.object({
  type: z.literal('WorkflowRunCompleted'),
  data: z.object({ output: z.string(), at: z.string() }),
});
export const WorkflowRunFailed = z.object({
  type: z.literal('WorkflowRunFailed'),
  data: z.object({
    failedStep: z.string(),
    reason: z.string(),
    /** Compensations that completed, in the order they ran, and those that failed for good. */
    compensated: z.array(z.string()),
    compensationFailed: z.array(z.string()),
    at: z.string(),
  }),
});

export const WorkflowRunEvent = z.discriminatedUnion('type', [
  WorkflowRunStarted,
  WorkflowStepScheduled,
  WorkflowStepCompleted,
  WorkflowStepFailed,
  WorkflowStepWaiting,
  WorkflowHandoff,
  WorkflowBranchTaken,
  WorkflowBranchesStarted,
  WorkflowBranchEnded,
  WorkflowBranchesJoined,
  WorkflowMapStarted,
  WorkflowMapJoined,
  WorkflowRunCancelRequested,
  WorkflowRunTimedOut,
  WorkflowCompensationStarted,
  WorkflowRunCompleted,
  WorkflowRunFailed,
]);
export type WorkflowRunEvent = z.infer<typeof WorkflowRunEvent>;
