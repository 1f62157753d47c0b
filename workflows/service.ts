/**
 * Defining workflows and starting runs, for a caller of a tenant. A run starts on the latest version and
 * keeps that definition (it is copied into WorkflowRunStarted); its steps are then the saga's business.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { CommandError, notFound, parseCommand } from '../commands/errors.ts';
import { fold, type HandleResult, handle } from '../commands/handle.ts';
import { type WorkflowVersions, workflowDefinitionDecider } from '../commands/workflow-definition.ts';
import { jsonBytes, workflowLimits } from '../commands/workflow-limits.ts';
import { type WorkflowRun, workflowRunDecider } from '../commands/workflow-run.ts';
import type { RecordedEvent } from '../events/envelope.ts';
import { runCorrelation, runStream, workflowStream } from '../events/workflow.ts';
import { WorkflowDefinition } from '../events/workflow-definition.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import { formatBytes } from '../infra/log-safe.ts';

export interface WorkflowCaller {
  tenant: string;
  principal: string;
}

const now = () => new Date().toISOString();

/** Stores a new version (or nothing, when it equals the latest); returns the version now current. Refuses an invalid definition with readable messages (CommandError validation). */
export const defineWorkflow = async (
  store: EventStore,
  caller: WorkflowCaller,
  input: unknown,
): Promise<{ name: string; version: number; created: boolean }> => {
  const definition = parseCommand(WorkflowDefinition, input);
  const result = await handle(
    store,
    workflowStream(caller.tenant, definition.name),
    { type: 'DefineWorkflow', definition, at: now() },
    workflowDefinitionDecider,
    caller,
  );
  return {
    name: definition.name,
    version: result.state.latest!.version,
    created: result.events.length > 0 && !result.replayed,
  };
};

export const latestWorkflow = async (
  store: EventStore,
  tenant: string,
  name: string,
): Promise<WorkflowVersions['latest']> =>
  fold(workflowDefinitionDecider, await store.readStream(workflowStream(tenant, name))).latest;

/** Refuses a run input over AGENTCORE_MAX_RUN_INPUT_BYTES (it is copied into the run's first event). */
const checkRunInput = (input: string) => {
  const bytes = jsonBytes(input);
  const max = workflowLimits().maxRunInputBytes;
  if (bytes > max)
    throw new CommandError(
      'validation',
      `input: ${formatBytes(bytes)}, over the ${formatBytes(max)} limit of a run's input (AGENTCORE_MAX_RUN_INPUT_BYTES)`,
    );
};

/** What a run's first event says about its start (its definition is not parsed: older ones may not be). */
const StartSummary = z.object({
  type: z.literal('WorkflowRunStarted'),
  data: z.object({ workflow: z.string(), input: z.string(), version: z.number() }),
});

/**
 * The run a start found already there (the start's stream existed): the same start again answers as the
 * first one did; anything else under that id (another tenant's run, another workflow or input) is a 409.
 */
const sameStart = async (
  store: EventStore,
  result: HandleResult<WorkflowRun>,
  expected: { tenant: string; runId: string; workflow: string; input: string },
): Promise<{ version: number }> => {
  const first: RecordedEvent | undefined =
    (result.replayed ? result.events[0] : undefined) ??
    (await store.readStream(runStream(expected.runId), { maxCount: 1 }))[0];
  const parsed = StartSummary.safeParse(first);
  const started = parsed.success ? parsed.data.data : null;
  // Another tenant's run is not revealed as such: the id is only said to be taken.
  if (!started || first?.metadata.tenant !== expected.tenant)
    throw new CommandError('conflict', `run id ${expected.runId} is already taken: choose another run id`);
  if (started.workflow !== expected.workflow || started.input !== expected.input)
    throw new CommandError(
      'conflict',
      `run ${expected.runId} was started with another ${started.workflow !== expected.workflow ? 'workflow' : 'input'}: a retry sends the same, a new run takes a new run id`,
    );
  return { version: started.version };
};

/**
 * Starts a run of the latest version. A `runId` makes a retried start the same run: the run's stream is
 * written only if it does not exist yet (whoever comes second, however many at once, reads the first one
 * back), and a start that differs from the one recorded (another tenant, workflow or input) is a conflict.
 */
export const startWorkflowRun = async (
  store: EventStore,
  caller: WorkflowCaller,
  name: string,
  input: string,
  options: { runId?: string; contextId?: string } = {},
): Promise<{ runId: string; version: number }> => {
  checkRunInput(input);
  const latest = await latestWorkflow(store, caller.tenant, name);
  if (!latest) throw notFound(`workflow ${name}`);
  const runId = options.runId ?? randomUUID();
  const result = await handle(
    store,
    runStream(runId),
    {
      type: 'StartRun',
      runId,
      workflow: name,
      version: latest.version,
      definition: latest.definition,
      input,
      contextId: options.contextId ?? randomUUID(),
      maxStepInputBytes: workflowLimits().maxStepInputBytes,
      at: now(),
    },
    workflowRunDecider,
    { ...caller, commandId: `wf-start:${runId}`, correlationId: runCorrelation(runId) },
    // A new stream: written with no_stream, so of concurrent identical starts exactly one writes.
    { assume: [] },
  );
  if (!result.replayed && result.events.length > 0) return { runId, version: latest.version };
  const { version } = await sameStart(store, result, { tenant: caller.tenant, runId, workflow: name, input });
  return { runId, version };
};

/** The run as its events have it, or null for an unknown run or another tenant's. */
export const readWorkflowRun = async (
  store: EventStore,
  tenant: string,
  runId: string,
): Promise<(WorkflowRun & { revision: number }) | null> => {
  const events = await store.readStream(runStream(runId));
  if (events.length === 0 || events[0]!.metadata.tenant !== tenant) return null;
  // The revision says whether the run changed (the read API's ETag).
  return { ...fold(workflowRunDecider, events), revision: events[events.length - 1]!.revision };
};
