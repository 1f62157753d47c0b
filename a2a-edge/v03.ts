/**
 * A2A v0.3 <-> v1.0 translation at the edge (A2A.md §1.7). The hub speaks v1.0 inside; a v0.3 peer's
 * requests are rewritten into v1.0 shapes before the service validates them, and v1.0 results are
 * rewritten into v0.3 shapes on the way out. Pure functions, no I/O.
 *
 * Request translators (`...ToV1`) take `unknown` and are tolerant: what they do not recognise they pass on
 * unchanged, so the service's validation reports the problem. Result translators (`...ToV03`) take the
 * hub's typed v1.0 objects. The reverse directions exist too (for round trips and for talking to v0.3
 * agents), with the same tolerance.
 */
import type { Artifact, Message, Part, StreamResponse, Task, TaskState } from '../events/a2a.ts';
import type { PushConfig } from './service.ts';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
/** Drops undefined members, so translated objects carry no `"x": undefined` noise. */
const compact = <T extends Json>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

// ---------------------------------------------------------------------------------------------------------
// v0.3 shapes (the JSON of the v0.3 specification)

export type V03TaskState =
  | 'submitted'
  | 'working'
  | 'input-required'
  | 'completed'
  | 'canceled'
  | 'failed'
  | 'rejected'
  | 'auth-required'
  | 'unknown';

export type V03Part =
  | { kind: 'text'; text: string; metadata?: Json }
  | {
      kind: 'file';
      file:
        | { bytes: string; mimeType?: string; name?: string }
        | { uri: string; mimeType?: string; name?: string };
      metadata?: Json;
    }
  | { kind: 'data'; data: unknown; metadata?: Json };

export interface V03Message {
  kind: 'message';
  messageId: string;
  role: 'user' | 'agent';
  parts: V03Part[];
  contextId?: string;
  taskId?: string;
  metadata?: Json;
  extensions?: string[];
  referenceTaskIds?: string[];
}

export interface V03Artifact {
  artifactId: string;
  name?: string;
  description?: string;
  parts: V03Part[];
  metadata?: Json;
  extensions?: string[];
}

export interface V03TaskStatus {
  state: V03TaskState;
  message?: V03Message;
  timestamp?: string;
}

export interface V03Task {
  kind: 'task';
  id: string;
  contextId: string;
  status: V03TaskStatus;
  artifacts?: V03Artifact[];
  history?: V03Message[];
  metadata?: Json;
}

export interface V03StatusUpdate {
  kind: 'status-update';
  taskId: string;
  contextId: string;
  status: V03TaskStatus;
  final: boolean;
  metadata?: Json;
}

export interface V03ArtifactUpdate {
  kind: 'artifact-update';
  taskId: string;
  contextId: string;
  artifact: V03Artifact;
  append?: boolean;
  lastChunk?: boolean;
  metadata?: Json;
}

export type V03StreamEvent = V03Task | V03Message | V03StatusUpdate | V03ArtifactUpdate;

export interface V03PushConfig {
  id?: string;
  url: string;
  token?: string;
  authentication?: { schemes: string[]; credentials?: string };
}

export interface V03TaskPushConfig {
  taskId: string;
  pushNotificationConfig: V03PushConfig;
}

// ---------------------------------------------------------------------------------------------------------
// Enumerations

export const STATE_TO_V03: Readonly<Record<TaskState | 'TASK_STATE_UNSPECIFIED', V03TaskState>> = {
  TASK_STATE_UNSPECIFIED: 'unknown',
  TASK_STATE_SUBMITTED: 'submitted',
  TASK_STATE_WORKING: 'working',
  TASK_STATE_INPUT_REQUIRED: 'input-required',
  TASK_STATE_AUTH_REQUIRED: 'auth-required',
  TASK_STATE_COMPLETED: 'completed',
  TASK_STATE_FAILED: 'failed',
  TASK_STATE_CANCELED: 'canceled',
  TASK_STATE_REJECTED: 'rejected',
};
const STATE_TO_V1 = Object.fromEntries(Object.entries(STATE_TO_V03).map(([v1, v03]) => [v03, v1])) as Record<
  V03TaskState,
  TaskState | 'TASK_STATE_UNSPECIFIED'
>;

export const stateToV03 = (state: TaskState): V03TaskState => STATE_TO_V03[state] ?? 'unknown';
/** Unknown values pass through, for the validator to name. */
export const stateToV1 = (state: unknown): unknown =>
  typeof state === 'string' && state in STATE_TO_V1 ? STATE_TO_V1[state as V03TaskState] : state;

export const roleToV03 = (role: Message['role']): V03Message['role'] =>
  role === 'ROLE_AGENT' ? 'agent' : 'user';
export const roleToV1 = (role: unknown): unknown =>
  role === 'user' ? 'ROLE_USER' : role === 'agent' ? 'ROLE_AGENT' : role;

/** v0.3 marks the last status update of a stream `final`: terminal and interrupted states end it. */
const FINAL_STATES: ReadonlySet<string> = new Set([
  'TASK_STATE_COMPLETED',
  'TASK_STATE_FAILED',
  'TASK_STATE_CANCELED',
  'TASK_STATE_REJECTED',
  'TASK_STATE_INPUT_REQUIRED',
  'TASK_STATE_AUTH_REQUIRED',
]);

// ---------------------------------------------------------------------------------------------------------
// v0.3 -> v1.0 (requests; tolerant)

export const partToV1 = (part: unknown): unknown => {
  if (!isObject(part)) return part;
  const { kind, ...rest } = part;
  switch (kind) {
    case 'text':
      return compact({ text: rest.text, metadata: rest.metadata });
    case 'file': {
      if (!isObject(rest.file)) return compact({ metadata: rest.metadata });
      const { bytes, uri, mimeType, name } = rest.file;
      return compact({ raw: bytes, url: uri, mediaType: mimeType, filename: name, metadata: rest.metadata });
    }
    case 'data':
      return compact({ data: rest.data, metadata: rest.metadata });
    default:
      // No kind (already v1.0) or one v0.3 never had: leave it to validation.
      return rest;
  }
};

export const messageToV1 = (message: unknown): unknown => {
  if (!isObject(message)) return message;
  const { kind: _kind, role, parts, ...rest } = message;
  return compact({
    ...rest,
    role: roleToV1(role),
    parts: Array.isArray(parts) ? parts.map(partToV1) : parts,
  });
};

export const artifactToV1 = (artifact: unknown): unknown => {
  if (!isObject(artifact)) return artifact;
  const { parts, ...rest } = artifact;
  return { ...rest, parts: Array.isArray(parts) ? parts.map(partToV1) : parts };
};

const statusToV1 = (status: unknown): unknown => {
  if (!isObject(status)) return status;
  return compact({
    ...status,
    state: stateToV1(status.state),
    message: status.message === undefined ? undefined : messageToV1(status.message),
  });
};

export const taskToV1 = (task: unknown): unknown => {
  if (!isObject(task)) return task;
  const { kind: _kind, status, artifacts, history, ...rest } = task;
  return compact({
    ...rest,
    status: statusToV1(status),
    artifacts: Array.isArray(artifacts) ? artifacts.map(artifactToV1) : artifacts,
    history: Array.isArray(history) ? history.map(messageToV1) : history,
  });
};

/** v0.3 `PushNotificationConfig` (with `authentication.schemes[]`) -> v1.0 config (one `scheme`). */
export const pushConfigToV1 = (config: unknown, taskId?: unknown): unknown => {
  if (!isObject(config)) return taskId === undefined ? config : { taskId };
  const { authentication, ...rest } = config;
  const auth = isObject(authentication)
    ? compact({
        scheme: Array.isArray(authentication.schemes) ? authentication.schemes[0] : authentication.scheme,
        credentials: authentication.credentials,
      })
    : authentication;
  return compact({ ...rest, ...(taskId === undefined ? {} : { taskId }), authentication: auth });
};

/** `MessageSendParams` -> `SendMessageRequest`: `blocking: false` becomes `returnImmediately: true`. */
export const sendParamsToV1 = (params: unknown): unknown => {
  if (!isObject(params)) return params;
  const { message, configuration, ...rest } = params;
  let config: unknown = configuration;
  if (isObject(configuration)) {
    const { blocking, pushNotificationConfig, ...c } = configuration;
    config = compact({
      ...c,
      returnImmediately: blocking === false ? true : c.returnImmediately,
      taskPushNotificationConfig:
        pushNotificationConfig === undefined
          ? c.taskPushNotificationConfig
          : pushConfigToV1(pushNotificationConfig),
    });
  }
  return compact({ ...rest, message: messageToV1(message), configuration: config });
};

/** `tasks/pushNotificationConfig/set` params (`TaskPushNotificationConfig`) -> v1.0 config with taskId. */
export const setPushConfigParamsToV1 = (params: unknown): unknown => {
  if (!isObject(params)) return params;
  const { taskId, pushNotificationConfig, tenant } = params;
  const v1 = pushConfigToV1(pushNotificationConfig, taskId);
  return isObject(v1) ? compact({ ...v1, tenant }) : v1;
};

/** `tasks/pushNotificationConfig/get|delete` params `{id: taskId, pushNotificationConfigId}` -> `{taskId, id}`. */
export const pushConfigRefToV1 = (params: unknown): unknown => {
  if (!isObject(params)) return params;
  // v0.3 `get` without a config id means the task's default config, whose id is the task id.
  return compact({
    taskId: params.id,
    id: params.pushNotificationConfigId ?? params.id,
    tenant: params.tenant,
  });
};

/** `tasks/pushNotificationConfig/list` params `{id: taskId}` -> `{taskId}`. */
export const listPushConfigsParamsToV1 = (params: unknown): unknown =>
  isObject(params) ? compact({ taskId: params.id, tenant: params.tenant }) : params;

/** A v0.3 stream event -> v1.0 StreamResponse (what a v0.3 agent streams to the hub). */
export const streamEventToV1 = (event: unknown): unknown => {
  if (!isObject(event)) return event;
  switch (event.kind) {
    case 'task':
      return { task: taskToV1(event) };
    case 'message':
      return { message: messageToV1(event) };
    case 'status-update': {
      const { kind: _k, final: _final, status, ...rest } = event;
      return { statusUpdate: { ...rest, status: statusToV1(status) } };
    }
    case 'artifact-update': {
      const { kind: _k, artifact, ...rest } = event;
      return { artifactUpdate: { ...rest, artifact: artifactToV1(artifact) } };
    }
    default:
      return event;
  }
};

// ---------------------------------------------------------------------------------------------------------
// v1.0 -> v0.3 (results)

/** v0.3 has no media type on text and data parts: it is dropped there. */
export const partToV03 = (part: Part): V03Part => {
  const metadata = part.metadata ? { metadata: part.metadata } : {};
  const file = compact({ mimeType: part.mediaType, name: part.filename });
  if (part.text !== undefined) return { kind: 'text', text: part.text, ...metadata };
  if (part.raw !== undefined) return { kind: 'file', file: { bytes: part.raw, ...file }, ...metadata };
  if (part.url !== undefined) return { kind: 'file', file: { uri: part.url, ...file }, ...metadata };
  return { kind: 'data', data: part.data, ...metadata };
};

export const messageToV03 = (message: Message): V03Message => {
  const { role, parts, ...rest } = message;
  return { kind: 'message', ...rest, role: roleToV03(role), parts: parts.map(partToV03) };
};

export const artifactToV03 = (artifact: Artifact): V03Artifact => ({
  ...artifact,
  parts: artifact.parts.map(partToV03),
});

export const statusToV03 = (status: Task['status']): V03TaskStatus =>
  compact({
    state: stateToV03(status.state),
    message: status.message ? messageToV03(status.message) : undefined,
    timestamp: status.timestamp,
  });

export const taskToV03 = (task: Task): V03Task => {
  const { status, artifacts, history, ...rest } = task;
  return compact({
    kind: 'task' as const,
    ...rest,
    status: statusToV03(status),
    artifacts: artifacts?.map(artifactToV03),
    history: history?.map(messageToV03),
  });
};

export const sendResultToV03 = (result: { task: Task } | { message: Message }): V03Task | V03Message =>
  'task' in result ? taskToV03(result.task) : messageToV03(result.message);

export const streamResponseToV03 = (response: StreamResponse): V03StreamEvent => {
  if ('task' in response) return taskToV03(response.task);
  if ('message' in response) return messageToV03(response.message);
  if ('statusUpdate' in response) {
    const { status, ...rest } = response.statusUpdate;
    return {
      kind: 'status-update',
      ...rest,
      status: statusToV03(status),
      final: FINAL_STATES.has(status.state),
    };
  }
  const { artifact, ...rest } = response.artifactUpdate;
  return compact({ kind: 'artifact-update' as const, ...rest, artifact: artifactToV03(artifact) });
};

export const pushConfigToV03 = (config: PushConfig): V03TaskPushConfig => ({
  taskId: config.taskId,
  pushNotificationConfig: compact({
    id: config.id,
    url: config.url,
    token: config.token,
    authentication: config.authentication
      ? compact({ schemes: [config.authentication.scheme], credentials: config.authentication.credentials })
      : undefined,
  }),
});
