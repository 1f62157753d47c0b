/**
 * The task aggregate's events: a task submitted, its status, artifacts and messages, its routing and remote
 * calls.
 */
import { z } from 'zod';
import { Artifact, Message, type StreamResponse, type Task, TaskState } from './a2a.ts';
import type { RecordedEvent } from './envelope.ts';
import { LineageUpstream } from './lineage.ts';

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
    /** The caller's ids when the message came from another hub's call (events/lineage.ts); absent before. */
    upstream: LineageUpstream.optional(),
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

// ---- routing and remote calls (sagas/routing.ts, agents/remote.ts) ------------------------------------

/** The routing score's weights (normalised by their sum when scoring). */
export const RoutingWeights = z.object({
  similarity: z.number().min(0),
  latency: z.number().min(0),
  cost: z.number().min(0),
  quality: z.number().min(0),
});
/** Hard limits from the request metadata: a candidate over one is excluded, whatever its score. */
export const RoutingLimits = z.object({
  maxLatencyMs: z.number().min(0).optional(),
  maxCost: z.number().min(0).optional(),
  minSimilarity: z.number().optional(),
});
/**
 * What the metrics read model observed of a candidate over routing's recent window
 * (projections/metrics-query.ts): `samples` tasks that ended completed, failed or rejected, the share
 * completed, the p95 latency (of the remote agent's calls; for an in-process agent, of submitted →
 * terminal), and the mean cost per task. Null: no history (the declared values alone were scored).
 */
export const ObservedFigures = z.object({
  samples: z.number().int().min(0),
  successRate: z.number().nullable(),
  p95Ms: z.number().nullable(),
  cost: z.number().nullable(),
});
/**
 * One candidate as routing saw it: what discovery said, its score, and why it was left out (if it was).
 * `latencyMs`, `cost` and `quality` are the values scored: declared ones blended with `observed` (absent in
 * events written before routing read the metrics).
 */
export const RoutingCandidate = z.object({
  agentKey: z.string(),
  skillId: z.string(),
  similarity: z.number(),
  latencyMs: z.number().nullable(),
  cost: z.number(),
  quality: z.number(),
  score: z.number(),
  excludedBy: z.string().optional(),
  observed: ObservedFigures.nullable().optional(),
});
/** The routing decision: the agent (`<tenant>:<agentId>`) and skill chosen, and every candidate scored. */
export const TaskRouted = z.object({
  type: z.literal('TaskRouted'),
  data: z.object({
    agentKey: z.string(),
    skillId: z.string(),
    candidates: z.array(RoutingCandidate),
    weights: RoutingWeights,
    limits: RoutingLimits,
    at: z.string(),
  }),
});
/** Routing found no agent; the task is rejected in the same append (TaskStatusUpdated REJECTED). */
export const TaskRoutingFailed = z.object({
  type: z.literal('TaskRoutingFailed'),
  data: z.object({
    reason: z.enum(['no-match', 'excluded']),
    explanation: z.string(),
    candidates: z.array(RoutingCandidate),
    weights: RoutingWeights,
    limits: RoutingLimits,
    at: z.string(),
  }),
});
/** Before a call to a remote agent (DESIGN principle 5): a later attempt of the same call has attempt + 1. */
export const RemoteCallIntended = z.object({
  type: z.literal('RemoteCallIntended'),
  data: z.object({
    agentKey: z.string(),
    callId: z.string(),
    /** Sent in the outgoing message's metadata; the same on every attempt of the call. */
    idempotencyKey: z.string(),
    attempt: z.number().int().min(1),
    at: z.string(),
  }),
});
/** The remote task our task is mirrored from: follow-ups and cancels go to it. */
export const RemoteTaskLinked = z.object({
  type: z.literal('RemoteTaskLinked'),
  data: z.object({
    agentKey: z.string(),
    callId: z.string(),
    remoteTaskId: z.string(),
    remoteContextId: z.string(),
    at: z.string(),
  }),
});
export const RemoteCallOutcome = z.enum([
  'completed',
  'interrupted',
  'rejected',
  'failed',
  'timeout',
  'error',
  'canceled',
  'abandoned',
]);
export type RemoteCallOutcome = z.infer<typeof RemoteCallOutcome>;
export type RoutingCandidate = z.infer<typeof RoutingCandidate>;
export type ObservedFigures = z.infer<typeof ObservedFigures>;
export type RoutingWeights = z.infer<typeof RoutingWeights>;
export type RoutingLimits = z.infer<typeof RoutingLimits>;
/** After the call: its outcome (what the circuit breaker and the discovery health columns read). */
export const RemoteCallCompleted = z.object({
  type: z.literal('RemoteCallCompleted'),
  data: z.object({
    callId: z.string(),
    agentKey: z.string(),
    ok: z.boolean(),
    outcome: RemoteCallOutcome,
    latencyMs: z.number().min(0).nullable(),
    error: z.string().optional(),
    /** The remote task's last state as mapped (written to our task right after this event). */
    final: z.object({ state: TaskState, message: Message.optional() }).optional(),
    at: z.string(),
  }),
});

export const TaskEvent = z.discriminatedUnion('type', [
  TaskSubmitted,
  TaskInputReceived,
  TaskStatusUpdated,
  TaskArtifactUpdated,
  TaskMessageAdded,
  TaskRouted,
  TaskRoutingFailed,
  RemoteCallIntended,
  RemoteTaskLinked,
  RemoteCallCompleted,
]);
export type TaskEvent = z.infer<typeof TaskEvent>;
export const taskStream = (taskId: string) => `task-${taskId}`;

/** What a task event means to a stream's (or a push's) reader: the A2A StreamResponse it becomes, if any. */
export const toStreamResponse = (task: Task, event: RecordedEvent): StreamResponse | null => {
  const e = { type: event.type, data: event.data } as TaskEvent;
  const ids = { taskId: task.id, contextId: task.contextId };
  switch (e.type) {
    case 'TaskSubmitted':
      return { task };
    case 'TaskInputReceived':
    case 'TaskStatusUpdated':
      return { statusUpdate: { ...ids, status: task.status } };
    case 'TaskArtifactUpdated':
      return {
        artifactUpdate: {
          ...ids,
          artifact: e.data.artifact,
          append: e.data.append,
          lastChunk: e.data.lastChunk,
        },
      };
    case 'TaskMessageAdded':
      return { message: e.data.message };
  }
  return null;
};
