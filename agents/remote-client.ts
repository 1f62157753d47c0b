/**
 * Talking to a remote A2A agent: the official client for its interface (v1.0 or v0.3, JSON-RPC or
 * HTTP+JSON) behind the SSRF guard, and what each of its stream responses means for our task (no I/O).
 */
import { AgentCard } from '@a2a-js/sdk';
import { Client, JsonRpcTransportFactory, RestTransportFactory, type Transport } from '@a2a-js/sdk/client';
import { LegacyJsonRpcTransport, LegacyRestTransport } from '@a2a-js/sdk/compat/v0_3/client';
import type { TaskCommand } from '../commands/task.ts';
import { Artifact, INTERRUPTED_STATES, Message, TaskState, TERMINAL_STATES } from '../events/a2a.ts';
import type { AgentEndpoint } from '../events/agent.ts';
import type { RemoteCallOutcome } from '../events/task.ts';
import { type Lookup, type SafeFetchOptions, safeFetch } from '../infra/ssrf.ts';
import type { AgentView } from '../projections/agents.ts';
import { textOf } from './agent.ts';

export interface RemoteTarget {
  agentKey: string;
  view: AgentView;
  endpoint: Extract<AgentEndpoint, { kind: 'remote' }>;
}

/** fetch for the SDK, through the SSRF guard. */
export const guardedFetch = (deps: {
  allowPrivateUrls: boolean;
  lookup?: Lookup;
  fetch?: SafeFetchOptions['fetch'];
}): typeof fetch => {
  const f = async (input: string | URL | Request, init?: RequestInit) => {
    if (input instanceof Request) {
      const body = input.body ? await input.text() : undefined;
      return safeFetch(
        input.url,
        {
          method: input.method,
          headers: input.headers,
          ...(body ? { body } : {}),
          signal: init?.signal ?? input.signal,
        },
        { allowPrivate: deps.allowPrivateUrls, lookup: deps.lookup, fetch: deps.fetch },
      );
    }
    return safeFetch(input, init ?? {}, {
      allowPrivate: deps.allowPrivateUrls,
      lookup: deps.lookup,
      fetch: deps.fetch,
    });
  };
  return f as typeof fetch;
};

/** An SDK client for the agent's chosen interface (v1.0 or v0.3, JSON-RPC or HTTP+JSON). */
export const clientFor = async (target: RemoteTarget, fetchImpl: typeof fetch): Promise<Client> => {
  const { endpoint } = target;
  const card = AgentCard.fromJSON(target.view.card ?? {});
  let transport: Transport;
  if (endpoint.protocolVersion === '0.3') {
    transport =
      endpoint.protocolBinding === 'HTTP+JSON'
        ? new LegacyRestTransport({ endpoint: endpoint.url, fetchImpl })
        : new LegacyJsonRpcTransport({ endpoint: endpoint.url, fetchImpl });
  } else {
    transport =
      endpoint.protocolBinding === 'HTTP+JSON'
        ? await new RestTransportFactory({ fetchImpl }).create(endpoint.url, card)
        : await new JsonRpcTransportFactory({ fetchImpl }).create(endpoint.url, card);
  }
  // The client falls back to a blocking SendMessage when the card does not declare streaming.
  card.capabilities = {
    ...(card.capabilities ?? {}),
    streaming: endpoint.streaming,
  } as AgentCard['capabilities'];
  return new Client(transport, card);
};

export const errorText = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message;
  return `${error.message}${why && !error.message.includes(why) ? ` (${why})` : ''}`;
};

// A refused task command (a rule violation) means the task went terminal under the call (canceled,
// say): nothing more to write, and not an error.

/** What one StreamResponse (ProtoJSON) says, mapped to our commands (no I/O; exported for tests). */
export interface MappedUpdate {
  link?: { remoteTaskId: string; remoteContextId: string };
  commands: TaskCommand[];
  /** A terminal or interrupted state: written after RemoteCallCompleted, at the end of the call. */
  final?: { state: TaskState; message?: Message };
  /** A non-final state (working) that clears an earlier deferred one. */
  clearsFinal?: boolean;
}

const parseOrThrow = <T>(
  schema: {
    safeParse(v: unknown): { success: true; data: T } | { success: false; error: { message: string } };
  },
  value: unknown,
  what: string,
): T => {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new Error(`the remote agent sent an invalid ${what}: ${parsed.error.message}`);
  return parsed.data;
};

const statusOf = (status: unknown, at: string): MappedUpdate => {
  const s = (status ?? {}) as { state?: unknown; message?: unknown };
  const state = TaskState.safeParse(s.state);
  if (!state.success || state.data === 'TASK_STATE_SUBMITTED') return { commands: [] };
  const message =
    s.message === undefined
      ? undefined
      : parseOrThrow(Message, { ...(s.message as object), role: 'ROLE_AGENT' }, 'status message');
  if (TERMINAL_STATES.has(state.data) || INTERRUPTED_STATES.has(state.data)) {
    return { commands: [], final: { state: state.data, ...(message ? { message } : {}) } };
  }
  return {
    commands: [{ type: 'UpdateStatus', state: state.data, ...(message ? { message } : {}), at }],
    clearsFinal: true,
  };
};

export const mapStreamResponse = (json: Record<string, unknown>, at: string): MappedUpdate => {
  if (json.task) {
    const t = json.task as { id?: string; contextId?: string; status?: unknown; artifacts?: unknown[] };
    const status = statusOf(t.status, at);
    const artifacts: TaskCommand[] = (t.artifacts ?? []).map((a) => ({
      type: 'UpdateArtifact',
      artifact: parseOrThrow(Artifact, a, 'artifact'),
      append: false,
      lastChunk: true,
      at,
    }));
    return {
      ...(t.id && t.contextId ? { link: { remoteTaskId: t.id, remoteContextId: t.contextId } } : {}),
      ...status,
      commands: [...artifacts, ...status.commands],
    };
  }
  if (json.statusUpdate) {
    const u = json.statusUpdate as { taskId?: string; contextId?: string; status?: unknown };
    return {
      ...(u.taskId && u.contextId ? { link: { remoteTaskId: u.taskId, remoteContextId: u.contextId } } : {}),
      ...statusOf(u.status, at),
    };
  }
  if (json.artifactUpdate) {
    const u = json.artifactUpdate as {
      taskId?: string;
      contextId?: string;
      artifact?: unknown;
      append?: boolean;
      lastChunk?: boolean;
    };
    return {
      ...(u.taskId && u.contextId ? { link: { remoteTaskId: u.taskId, remoteContextId: u.contextId } } : {}),
      commands: [
        {
          type: 'UpdateArtifact',
          artifact: parseOrThrow(Artifact, u.artifact, 'artifact'),
          append: u.append ?? false,
          lastChunk: u.lastChunk ?? false,
          at,
        },
      ],
    };
  }
  if (json.message) {
    // A direct answer: the stream is this one message; our task completes with it in the history.
    const message = parseOrThrow(Message, { ...(json.message as object), role: 'ROLE_AGENT' }, 'message');
    return { commands: [{ type: 'AddAgentMessage', message, at }], final: { state: 'TASK_STATE_COMPLETED' } };
  }
  return { commands: [] };
};

/** How a call ended, from the remote task's last state. */
export const outcomeOf = (final: {
  state: TaskState;
  message?: Message;
}): { ok: boolean; outcome: RemoteCallOutcome; error?: string } => {
  switch (final.state) {
    case 'TASK_STATE_COMPLETED':
      return { ok: true, outcome: 'completed' };
    case 'TASK_STATE_INPUT_REQUIRED':
    case 'TASK_STATE_AUTH_REQUIRED':
      return { ok: true, outcome: 'interrupted' };
    case 'TASK_STATE_REJECTED':
      return { ok: true, outcome: 'rejected' };
    case 'TASK_STATE_CANCELED':
      return { ok: true, outcome: 'canceled' };
    default:
      return {
        ok: false,
        outcome: 'failed',
        error: `the remote task failed${final.message ? `: ${textOf(final.message)}` : ''}`,
      };
  }
};
