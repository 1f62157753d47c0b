/** What an in-process agent is: an async generator of status, artifact and reply updates for one task. */
import type { Artifact, Message, Part, Task, TaskState } from '../events/a2a.ts';

/** What an agent says back: the worker turns each update into a task command. */
export type AgentUpdate =
  | { kind: 'status'; state: Exclude<TaskState, 'TASK_STATE_SUBMITTED'>; parts?: Part[] }
  | { kind: 'artifact'; artifact: Artifact; append?: boolean; lastChunk?: boolean }
  /** A direct answer instead of task progress: the client gets a Message, and the task completes. */
  | { kind: 'reply'; parts: Part[] };

export interface AgentInvocation {
  /** The task as it stands, history included. */
  task: Task;
  /** The user message this run answers (the submission or a follow-up). */
  input: Message;
  tenant: string;
  /** Aborted when the task is canceled or the worker shuts down. */
  signal: AbortSignal;
}

export interface AgentSkill {
  id: string;
  name: string;
  description: string;
  tags: string[];
  examples?: string[];
  inputModes?: string[];
  outputModes?: string[];
}

/** An agent that runs inside the hub. An async generator is the natural shape for `run`. */
export interface Agent {
  id: string;
  name: string;
  description: string;
  skills: AgentSkill[];
  /**
   * Same input, same updates, and no effect outside the task: running it twice for one trigger is harmless
   * (the second run's commands are recognised by their ids), so the edge may start it in its own process
   * without waiting for the bus (agents/worker.ts dispatch).
   */
  deterministic?: boolean;
  run(invocation: AgentInvocation): AsyncIterable<AgentUpdate>;
}

export const textOf = (message: Message | undefined): string =>
  (message?.parts ?? [])
    .map((p) => p.text)
    .filter((t): t is string => typeof t === 'string')
    .join('\n');
