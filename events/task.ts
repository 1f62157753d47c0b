import { z } from 'zod';
import { Artifact, Message, TaskState } from './a2a.ts';

export const SendConfiguration = z.object({
  acceptedOutputModes: z.array(z.string()).optional(),
  historyLength: z.number().int().min(0).optional(),
  returnImmediately: z.boolean().optional(),
});

export const TaskSubmitted = z.object({
  type: z.literal('TaskSubmitted'),
  data: z.object({
    taskId: z.string(),
    contextId: z.string(),
    message: Message,
    /** The agent the task is bound to, when the sender named one; otherwise routing decides. */
    agent: z.string().nullable(),
    configuration: SendConfiguration.optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    at: z.string(),
  }),
});
/** A user's follow-up on a task the agent is still on (typically after input-required). */
export const TaskInputReceived = z.object({
  type: z.literal('TaskInputReceived'),
  data: z.object({ message: Message, at: z.string() }),
});
export const TaskStatusUpdated = z.object({
  type: z.literal('TaskStatusUpdated'),
  data: z.object({ state: TaskState, message: Message.optional(), at: z.string() }),
});
export const TaskArtifactUpdated = z.object({
  type: z.literal('TaskArtifactUpdated'),
  data: z.object({ artifact: Artifact, append: z.boolean(), lastChunk: z.boolean(), at: z.string() }),
});
/** An agent message outside a status change (it joins the history). */
export const TaskMessageAdded = z.object({
  type: z.literal('TaskMessageAdded'),
  data: z.object({ message: Message, at: z.string() }),
});

export const TaskEvent = z.discriminatedUnion('type', [
  TaskSubmitted,
  TaskInputReceived,
  TaskStatusUpdated,
  TaskArtifactUpdated,
  TaskMessageAdded,
]);
export type TaskEvent = z.infer<typeof TaskEvent>;
export const taskStream = (taskId: string) => `task-${taskId}`;
