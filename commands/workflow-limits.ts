/**
 * The size limits of workflow runs: a run's input, a step's rendered input (and so a step's output, which
 * becomes later steps' input), measured as the bytes their text takes in an event (JSON-encoded UTF-8), so
 * that no run event can outgrow the event size limit (commands/handle.ts) and leave the run stuck.
 *
 * The composition root sets them from the configuration (AGENTCORE_MAX_STEP_INPUT_BYTES,
 * AGENTCORE_MAX_RUN_INPUT_BYTES); a run records the step limit it started with, so deciding on it again
 * later (a redelivery, a replay) decides the same whatever the configuration is by then.
 */

export interface WorkflowLimits {
  /** The largest rendered input of a step's task; a larger one fails the step. Outputs count the same. */
  maxStepInputBytes: number;
  /** The largest input a run starts with (refused at the API, 400). */
  maxRunInputBytes: number;
}

export const DEFAULT_WORKFLOW_LIMITS: Readonly<WorkflowLimits> = {
  maxStepInputBytes: 512 * 1024,
  maxRunInputBytes: 256 * 1024,
};

/** A step failure's reason kept in the run's events (a failed task's whole output is not a reason). */
export const MAX_REASON_LENGTH = 2000;

let current: WorkflowLimits = { ...DEFAULT_WORKFLOW_LIMITS };

export const workflowLimits = (): Readonly<WorkflowLimits> => current;

/** Sets the limits of this process (the composition root, from the configuration). */
export const configureWorkflowLimits = (limits: Partial<WorkflowLimits>): void => {
  current = { ...current, ...limits };
};

/** The bytes `text` takes inside a JSON document (UTF-8, escapes included, without its quotes). */
export const jsonBytes = (text: string): number => Buffer.byteLength(JSON.stringify(text), 'utf8') - 2;
