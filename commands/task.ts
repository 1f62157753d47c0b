import { z } from 'zod';
import {
  type Artifact,
  Artifact as ArtifactSchema,
  Message,
  type Task,
  TaskState,
  TERMINAL_STATES,
} from '../events/a2a.ts';
import { SendConfiguration, type TaskEvent } from '../events/task.ts';
import { notFound, ruleViolated } from './errors.ts';
import type { Decider } from './handle.ts';

/** A2A error reasons a task rule maps to at the edge (ErrorInfo.reason). */
export const TASK_NOT_CANCELABLE = 'TASK_NOT_CANCELABLE';
export const UNSUPPORTED_OPERATION = 'UNSUPPORTED_OPERATION';

const at = z.string().datetime({ offset: false });
export const TaskCommand = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('SubmitTask'),
    taskId: z.string().min(1),
    contextId: z.string().min(1),
    message: Message,
    agent: z.string().nullable(),
    configuration: SendConfiguration.optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    at,
  }),
  z.object({ type: z.literal('ReceiveInput'), message: Message, at }),
  z.object({ type: z.literal('StartWork'), at }),
  z.object({ type: z.literal('UpdateStatus'), state: TaskState, message: Message.optional(), at }),
  z.object({
    type: z.literal('UpdateArtifact'),
    artifact: ArtifactSchema,
    append: z.boolean().default(false),
    lastChunk: z.boolean().default(false),
    at,
  }),
  z.object({ type: z.literal('AddAgentMessage'), message: Message, at }),
  z.object({ type: z.literal('CancelTask'), at }),
]);
export type TaskCommand = z.infer<typeof TaskCommand>;

export interface TaskAggregate {
  task: Task | null;
  agent: string | null;
  /** How many user inputs the agent has been given (the submission counts as the first). */
  inputs: number;
}

const isTerminal = (t: Task) => TERMINAL_STATES.has(t.status.state);

/** Agents may only move a task forward: never back to submitted, never out of a terminal state. */
const agentTargets: ReadonlySet<TaskState> = new Set(
  TaskState.options.filter((s) => s !== 'TASK_STATE_SUBMITTED'),
);

export const mergeArtifact = (artifacts: Artifact[], update: Artifact, append: boolean): Artifact[] => {
  const i = artifacts.findIndex((a) => a.artifactId === update.artifactId);
  if (i < 0) return [...artifacts, update];
  const next = [...artifacts];
  next[i] = append ? { ...artifacts[i]!, parts: [...artifacts[i]!.parts, ...update.parts] } : update;
  return next;
};

export const taskDecider: Decider<TaskCommand, TaskAggregate, TaskEvent> = {
  initialState: () => ({ task: null, agent: null, inputs: 0 }),
  decide(command, { task }) {
    if (command.type === 'SubmitTask') {
      if (task) throw ruleViolated(`task ${command.taskId} already exists`);
      const { taskId, contextId, agent, configuration, metadata } = command;
      const message = { ...command.message, taskId, contextId };
      return [
        {
          type: 'TaskSubmitted',
          data: {
            taskId,
            contextId,
            message,
            agent,
            ...(configuration ? { configuration } : {}),
            ...(metadata ? { metadata } : {}),
            at: command.at,
          },
        },
      ];
    }
    if (!task) throw notFound('task');
    if (command.type === 'CancelTask') {
      if (task.status.state === 'TASK_STATE_CANCELED') return [];
      if (isTerminal(task)) {
        throw ruleViolated(`task ${task.id} is ${task.status.state} and cannot be canceled`, {
          reason: TASK_NOT_CANCELABLE,
        });
      }
      return [{ type: 'TaskStatusUpdated', data: { state: 'TASK_STATE_CANCELED', at: command.at } }];
    }
    if (isTerminal(task)) {
      throw ruleViolated(`task ${task.id} is ${task.status.state}: it takes no more messages or updates`, {
        reason: UNSUPPORTED_OPERATION,
      });
    }
    switch (command.type) {
      case 'ReceiveInput': {
        if (command.message.contextId && command.message.contextId !== task.contextId) {
          throw ruleViolated(`contextId ${command.message.contextId} does not match task ${task.id}`, {
            reason: 'INVALID_PARAMS',
          });
        }
        const message = { ...command.message, taskId: task.id, contextId: task.contextId };
        return [{ type: 'TaskInputReceived', data: { message, at: command.at } }];
      }
      case 'StartWork':
        return task.status.state === 'TASK_STATE_WORKING'
          ? []
          : [{ type: 'TaskStatusUpdated', data: { state: 'TASK_STATE_WORKING', at: command.at } }];
      case 'UpdateStatus': {
        if (!agentTargets.has(command.state))
          throw ruleViolated(`an agent cannot move a task to ${command.state}`);
        const message = command.message && { ...command.message, taskId: task.id, contextId: task.contextId };
        return [
          {
            type: 'TaskStatusUpdated',
            data: { state: command.state, ...(message ? { message } : {}), at: command.at },
          },
        ];
      }
      case 'UpdateArtifact':
        return [
          {
            type: 'TaskArtifactUpdated',
            data: {
              artifact: command.artifact,
              append: command.append,
              lastChunk: command.lastChunk,
              at: command.at,
            },
          },
        ];
      case 'AddAgentMessage': {
        const message = { ...command.message, taskId: task.id, contextId: task.contextId };
        return [{ type: 'TaskMessageAdded', data: { message, at: command.at } }];
      }
    }
  },
  evolve(state, event) {
    const { task } = state;
    if (event.type === 'TaskSubmitted') {
      const d = event.data;
      return {
        agent: d.agent,
        inputs: 1,
        task: {
          id: d.taskId,
          contextId: d.contextId,
          status: { state: 'TASK_STATE_SUBMITTED', timestamp: d.at },
          history: [d.message],
          artifacts: [],
          ...(d.metadata ? { metadata: d.metadata } : {}),
        },
      };
    }
    if (!task) return state;
    switch (event.type) {
      case 'TaskInputReceived':
        return {
          ...state,
          inputs: state.inputs + 1,
          task: {
            ...task,
            status: { state: 'TASK_STATE_WORKING', timestamp: event.data.at },
            history: [...(task.history ?? []), event.data.message],
          },
        };
      case 'TaskStatusUpdated': {
        const { state: s, message, at: timestamp } = event.data;
        return {
          ...state,
          task: {
            ...task,
            status: { state: s, timestamp, ...(message ? { message } : {}) },
            history: message ? [...(task.history ?? []), message] : task.history,
          },
        };
      }
      case 'TaskArtifactUpdated':
        return {
          ...state,
          task: {
            ...task,
            artifacts: mergeArtifact(task.artifacts ?? [], event.data.artifact, event.data.append),
          },
        };
      case 'TaskMessageAdded':
        return { ...state, task: { ...task, history: [...(task.history ?? []), event.data.message] } };
    }
  },
};
