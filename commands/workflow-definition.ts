/** A tenant's workflow as an aggregate: its versions, a new one whenever the definition changes. */
import { z } from 'zod';
import type { WorkflowDefinitionEvent } from '../events/workflow.ts';
import { WorkflowDefinition } from '../events/workflow-definition.ts';
import { canonicalJson } from './agent.ts';
import { at } from './command-time.ts';
import type { Decider } from './handle.ts';

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
