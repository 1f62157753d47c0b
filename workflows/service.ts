/**
 * Defining workflows and starting runs, for a caller of a tenant. A run starts on the latest version and
 * keeps that definition (it is copied into WorkflowRunStarted); its steps are then the saga's business.
 */
import { randomUUID } from 'node:crypto';
import { notFound, parseCommand } from '../commands/errors.ts';
import { fold, handle } from '../commands/handle.ts';
import {
  type WorkflowRun,
  type WorkflowVersions,
  workflowDefinitionDecider,
  workflowRunDecider,
} from '../commands/workflow.ts';
import { runCorrelation, runStream, workflowStream } from '../events/workflow.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import { WorkflowDefinition } from './definition.ts';

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

/** Starts a run of the latest version; `runId` makes a retried start the same run. */
export const startWorkflowRun = async (
  store: EventStore,
  caller: WorkflowCaller,
  name: string,
  input: string,
  options: { runId?: string; contextId?: string } = {},
): Promise<{ runId: string; version: number }> => {
  const latest = await latestWorkflow(store, caller.tenant, name);
  if (!latest) throw notFound(`workflow ${name}`);
  const runId = options.runId ?? randomUUID();
  await handle(
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
      at: now(),
    },
    workflowRunDecider,
    { ...caller, commandId: `wf-start:${runId}`, correlationId: runCorrelation(runId) },
  );
  return { runId, version: latest.version };
};

/** The run as its events have it, or null for an unknown run or another tenant's. */
export const readWorkflowRun = async (
  store: EventStore,
  tenant: string,
  runId: string,
): Promise<WorkflowRun | null> => {
  const events = await store.readStream(runStream(runId));
  if (events.length === 0 || events[0]!.metadata.tenant !== tenant) return null;
  return fold(workflowRunDecider, events);
};
