/**
 * The task aggregate's decider: submission, status, artifacts, messages, routing and remote calls of one
 * task.
 */
import { z } from 'zod';
import {
  type Artifact,
  Artifact as ArtifactSchema,
  Message,
  type Task,
  TaskState,
  TERMINAL_STATES,
} from '../events/a2a.ts';
import { LineageUpstream } from '../events/lineage.ts';
import {
  RemoteCallOutcome,
  type RemoteCallOutcome as RemoteCallOutcomeType,
  RoutingCandidate,
  RoutingLimits,
  RoutingWeights,
  SendConfiguration,
  type TaskEvent,
} from '../events/task.ts';
import { at } from './command-time.ts';
import { notFound, ruleViolated } from './errors.ts';
import type { Decider } from './handle.ts';

/** A2A error reasons a task rule maps to at the edge (ErrorInfo.reason). */
/** `metadata.agent` asking for routing whatever the hub's default. */
export const AUTO_AGENT = 'auto';
/** AGENTCORE_DEFAULT_AGENT value that routes every task naming no agent. */
export const ROUTE_DEFAULT_AGENT = 'route';

/** Whether routing decides the task's agent (both workers leave the TaskSubmitted alone then). */
export const needsRouting = (agent: string | null, routeByDefault: boolean): boolean =>
  agent === AUTO_AGENT || (agent === null && routeByDefault);

export const TASK_NOT_CANCELABLE = 'TASK_NOT_CANCELABLE';
export const UNSUPPORTED_OPERATION = 'UNSUPPORTED_OPERATION';

export const TaskCommand = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('SubmitTask'),
    taskId: z.string().min(1),
    contextId: z.string().min(1),
    message: Message,
    agent: z.string().nullable(),
    configuration: SendConfiguration.optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    upstream: LineageUpstream.optional(),
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
  // ---- routing and remote calls (sagas/routing.ts, agents/remote.ts) ----
  z.object({
    type: z.literal('RouteTask'),
    agentKey: z.string().min(1),
    skillId: z.string().min(1),
    candidates: z.array(RoutingCandidate),
    weights: RoutingWeights,
    limits: RoutingLimits,
    at,
  }),
  z.object({
    type: z.literal('RejectRouting'),
    reason: z.enum(['no-match', 'excluded']),
    explanation: z.string().min(1),
    /** The status message the client sees (its text is the explanation). */
    message: Message,
    candidates: z.array(RoutingCandidate),
    weights: RoutingWeights,
    limits: RoutingLimits,
    at,
  }),
  z.object({
    type: z.literal('IntendRemoteCall'),
    agentKey: z.string().min(1),
    callId: z.string().min(1),
    idempotencyKey: z.string().min(1),
    attempt: z.number().int().min(1),
    at,
  }),
  z.object({
    type: z.literal('LinkRemoteTask'),
    agentKey: z.string().min(1),
    callId: z.string().min(1),
    remoteTaskId: z.string().min(1),
    remoteContextId: z.string().min(1),
    at,
  }),
  z.object({
    type: z.literal('CompleteRemoteCall'),
    callId: z.string().min(1),
    ok: z.boolean(),
    outcome: RemoteCallOutcome,
    latencyMs: z.number().min(0).nullable(),
    error: z.string().optional(),
    final: z.object({ state: TaskState, message: Message.optional() }).optional(),
    at,
  }),
]);
export type TaskCommand = z.infer<typeof TaskCommand>;

export interface TaskAggregate {
  task: Task | null;
  agent: string | null;
  /** How many user inputs the agent has been given (the submission counts as the first). */
  inputs: number;
  // ---- routing and remote calls (optional: read models fold from partial states) ----
  /** Routing's choice (TaskRouted). */
  routed?: { agentKey: string; skillId: string };
  /** The remote task this task mirrors (RemoteTaskLinked): follow-ups and cancels go there. */
  remote?: { agentKey: string; remoteTaskId: string; remoteContextId: string };
  /** Calls to remote agents, by call id. */
  calls?: Record<string, RemoteCallState>;
}

export interface RemoteCallState {
  agentKey: string;
  idempotencyKey: string;
  /** Attempts recorded (RemoteCallIntended); more than one means an earlier attempt was cut short. */
  attempts: number;
  completed: { ok: boolean; outcome: RemoteCallOutcomeType } | null;
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
  const current = artifacts[i]!;
  // As the official SDK does: an appended chunk's metadata (a streamed reply's usage, say) is kept.
  next[i] = append
    ? {
        ...current,
        parts: [...current.parts, ...update.parts],
        ...(update.metadata ? { metadata: { ...current.metadata, ...update.metadata } } : {}),
      }
    : update;
  return next;
};

type Command<T extends TaskCommand['type']> = Extract<TaskCommand, { type: T }>;

/** The task, which must exist. */
const existing = (state: TaskAggregate): Task => {
  if (!state.task) throw notFound('task');
  return state.task;
};

/** The task, which must exist and not be terminal: a terminal task takes no more messages or updates. */
const open = (state: TaskAggregate): Task => {
  const task = existing(state);
  if (isTerminal(task)) {
    throw ruleViolated(`task ${task.id} is ${task.status.state}: it takes no more messages or updates`, {
      reason: UNSUPPORTED_OPERATION,
    });
  }
  return task;
};

/** A message of the task's, whatever ids its sender put on it. */
const ofTask = <M extends { taskId?: string; contextId?: string }>(message: M, task: Task) => ({
  ...message,
  taskId: task.id,
  contextId: task.contextId,
});

const submitTask = (command: Command<'SubmitTask'>, state: TaskAggregate): TaskEvent[] => {
  if (state.task) throw ruleViolated(`task ${command.taskId} already exists`);
  const { taskId, contextId, agent, configuration, metadata, upstream } = command;
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
        ...(upstream ? { upstream } : {}),
        at: command.at,
      },
    },
  ];
};

// A call's link and outcome are recorded whatever became of the task meanwhile (canceled under it).
const linkRemoteTask = (command: Command<'LinkRemoteTask'>, state: TaskAggregate): TaskEvent[] => {
  existing(state);
  const { type: _t, ...data } = command;
  const r = state.remote;
  if (r && r.agentKey === data.agentKey && r.remoteTaskId === data.remoteTaskId) return [];
  return [{ type: 'RemoteTaskLinked', data }];
};

const completeRemoteCall = (command: Command<'CompleteRemoteCall'>, state: TaskAggregate): TaskEvent[] => {
  existing(state);
  const call = state.calls?.[command.callId];
  if (!call) throw ruleViolated(`remote call ${command.callId} was never intended`);
  if (call.completed) return [];
  const { type: _t, ...rest } = command;
  return [{ type: 'RemoteCallCompleted', data: { ...rest, agentKey: call.agentKey } }];
};

const cancelTask = (command: Command<'CancelTask'>, state: TaskAggregate): TaskEvent[] => {
  const task = existing(state);
  if (task.status.state === 'TASK_STATE_CANCELED') return [];
  if (isTerminal(task)) {
    throw ruleViolated(`task ${task.id} is ${task.status.state} and cannot be canceled`, {
      reason: TASK_NOT_CANCELABLE,
    });
  }
  return [{ type: 'TaskStatusUpdated', data: { state: 'TASK_STATE_CANCELED', at: command.at } }];
};

const receiveInput = (command: Command<'ReceiveInput'>, state: TaskAggregate): TaskEvent[] => {
  const task = open(state);
  if (command.message.contextId && command.message.contextId !== task.contextId) {
    throw ruleViolated(`contextId ${command.message.contextId} does not match task ${task.id}`, {
      reason: 'INVALID_PARAMS',
    });
  }
  return [{ type: 'TaskInputReceived', data: { message: ofTask(command.message, task), at: command.at } }];
};

const startWork = (command: Command<'StartWork'>, state: TaskAggregate): TaskEvent[] =>
  open(state).status.state === 'TASK_STATE_WORKING'
    ? []
    : [{ type: 'TaskStatusUpdated', data: { state: 'TASK_STATE_WORKING', at: command.at } }];

const updateStatus = (command: Command<'UpdateStatus'>, state: TaskAggregate): TaskEvent[] => {
  const task = open(state);
  if (!agentTargets.has(command.state)) throw ruleViolated(`an agent cannot move a task to ${command.state}`);
  const message = command.message && ofTask(command.message, task);
  return [
    {
      type: 'TaskStatusUpdated',
      data: { state: command.state, ...(message ? { message } : {}), at: command.at },
    },
  ];
};

const updateArtifact = (command: Command<'UpdateArtifact'>, state: TaskAggregate): TaskEvent[] => {
  open(state);
  const { artifact, append, lastChunk, at } = command;
  return [{ type: 'TaskArtifactUpdated', data: { artifact, append, lastChunk, at } }];
};

const addAgentMessage = (command: Command<'AddAgentMessage'>, state: TaskAggregate): TaskEvent[] => [
  { type: 'TaskMessageAdded', data: { message: ofTask(command.message, open(state)), at: command.at } },
];

const notRoutedYet = (state: TaskAggregate): Task => {
  const task = open(state);
  if (state.routed) throw ruleViolated(`task ${task.id} is already routed to ${state.routed.agentKey}`);
  return task;
};

const routeTask = (command: Command<'RouteTask'>, state: TaskAggregate): TaskEvent[] => {
  notRoutedYet(state);
  const { type: _t, ...data } = command;
  return [{ type: 'TaskRouted', data }];
};

const rejectRouting = (command: Command<'RejectRouting'>, state: TaskAggregate): TaskEvent[] => {
  const task = notRoutedYet(state);
  const { type: _t, message, ...data } = command;
  return [
    { type: 'TaskRoutingFailed', data },
    {
      type: 'TaskStatusUpdated',
      data: { state: 'TASK_STATE_REJECTED', message: ofTask(message, task), at: command.at },
    },
  ];
};

const intendRemoteCall = (command: Command<'IntendRemoteCall'>, state: TaskAggregate): TaskEvent[] => {
  open(state);
  const call = state.calls?.[command.callId];
  if (call?.completed) throw ruleViolated(`remote call ${command.callId} is already completed`);
  const expected = (call?.attempts ?? 0) + 1;
  if (command.attempt !== expected) {
    throw ruleViolated(
      `remote call ${command.callId}: attempt ${command.attempt} is not the next one (${expected})`,
    );
  }
  const { type: _t, ...data } = command;
  return [{ type: 'RemoteCallIntended', data }];
};

export const taskDecider: Decider<TaskCommand, TaskAggregate, TaskEvent> = {
  initialState: () => ({ task: null, agent: null, inputs: 0 }),
  decide(command, state) {
    switch (command.type) {
      case 'SubmitTask':
        return submitTask(command, state);
      case 'LinkRemoteTask':
        return linkRemoteTask(command, state);
      case 'CompleteRemoteCall':
        return completeRemoteCall(command, state);
      case 'CancelTask':
        return cancelTask(command, state);
      case 'ReceiveInput':
        return receiveInput(command, state);
      case 'StartWork':
        return startWork(command, state);
      case 'UpdateStatus':
        return updateStatus(command, state);
      case 'UpdateArtifact':
        return updateArtifact(command, state);
      case 'AddAgentMessage':
        return addAgentMessage(command, state);
      case 'RouteTask':
        return routeTask(command, state);
      case 'RejectRouting':
        return rejectRouting(command, state);
      case 'IntendRemoteCall':
        return intendRemoteCall(command, state);
      default: {
        const unknownCommand: never = command;
        throw new Error(`unknown task command ${JSON.stringify(unknownCommand)}`);
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
      case 'TaskRouted':
        return { ...state, routed: { agentKey: event.data.agentKey, skillId: event.data.skillId } };
      case 'TaskRoutingFailed':
        return state;
      case 'RemoteCallIntended': {
        const { callId, agentKey, idempotencyKey, attempt } = event.data;
        const calls = { ...state.calls };
        calls[callId] = {
          agentKey,
          idempotencyKey,
          attempts: attempt,
          completed: calls[callId]?.completed ?? null,
        };
        return { ...state, calls };
      }
      case 'RemoteTaskLinked': {
        const { agentKey, remoteTaskId, remoteContextId } = event.data;
        return { ...state, remote: { agentKey, remoteTaskId, remoteContextId } };
      }
      case 'RemoteCallCompleted': {
        const { callId, ok, outcome, agentKey } = event.data;
        const calls = { ...state.calls };
        const call = calls[callId] ?? { agentKey, idempotencyKey: callId, attempts: 0, completed: null };
        calls[callId] = { ...call, completed: { ok, outcome } };
        return { ...state, calls };
      }
    }
  },
};
