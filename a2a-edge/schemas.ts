/**
 * Request shapes of A2A v1.0 (ProtoJSON), and the checks every request passes before them: proto field
 * names turned into lowerCamelCase, and the limits that keep hostile input from reaching the store.
 * Unknown fields are ignored, as the spec asks.
 */
import { z } from 'zod';
import { Message, TaskState } from '../events/a2a.ts';
import { A2AError } from './errors.ts';

/** Longest id accepted (task, context, message, artifact, push config, tenant): longer ones are refused. */
export const MAX_ID_LENGTH = 256;
/** Deepest nesting of arrays and objects accepted anywhere in a request (metadata, a Part's data, ...). */
export const MAX_JSON_DEPTH = 64;
/**
 * Largest message accepted by default (AGENTCORE_MAX_MESSAGE_BYTES), as the JSON of the message and the
 * request's metadata. 512 KiB keeps the event that carries it (with its envelope) under NATS's default
 * max_payload of 1 MiB: a bigger event cannot be relayed at all and holds up the relay for everyone.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 512 * 1024;

/** PostgreSQL's timestamptz starts at 4713 BC but ISO-8601 year 0000 is refused by it: only 0001-9999. */
const storableTimestamp = (v: string) => !v.startsWith('0000') && !Number.isNaN(Date.parse(v));
export const Timestamp = z
  .string()
  .datetime({ offset: true, message: 'must be an ISO-8601 timestamp such as 2025-10-28T10:30:00.000Z' })
  .refine(storableTimestamp, 'must be a timestamp between the years 0001 and 9999');

/**
 * A config nested the way v1.0.0 drafts and v0.3 nested it (`{taskId, pushNotificationConfig: {url, ...}}`,
 * or `config`) is read flat, as v1.0.1's TaskPushNotificationConfig is.
 */
const flattenPushConfig = (input: unknown) => {
  if (typeof input !== 'object' || input === null || 'url' in input) return input;
  const { pushNotificationConfig, config, ...rest } = input as Record<string, unknown>;
  const nested = pushNotificationConfig ?? config;
  return typeof nested === 'object' && nested !== null ? { ...rest, ...nested } : input;
};

export const PushConfigInput = z.preprocess(
  flattenPushConfig,
  z.object({
    id: z.string().min(1).optional(),
    taskId: z.string().optional(),
    url: z.string().url('url must be an absolute URL'),
    token: z.string().optional(),
    authentication: z.object({ scheme: z.string().min(1), credentials: z.string().optional() }).optional(),
    tenant: z.string().optional(),
  }),
);
export type PushConfigInput = z.infer<typeof PushConfigInput>;

export const SendMessageRequest = z.object({
  message: Message,
  configuration: z
    .object({
      acceptedOutputModes: z.array(z.string()).optional(),
      taskPushNotificationConfig: PushConfigInput.optional(),
      /** The v1.0.0 draft's and v0.3's name of taskPushNotificationConfig. */
      pushNotificationConfig: PushConfigInput.optional(),
      historyLength: z.number().int().min(0, 'historyLength must not be negative').optional(),
      returnImmediately: z.boolean().optional(),
    })
    .transform(({ pushNotificationConfig, ...c }) => ({
      ...c,
      taskPushNotificationConfig: c.taskPushNotificationConfig ?? pushNotificationConfig,
    }))
    .optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  tenant: z.string().optional(),
});
export type SendMessageRequest = z.infer<typeof SendMessageRequest>;

export const GetTaskRequest = z.object({
  id: z.string().min(1, 'id is required'),
  historyLength: z.coerce.number().int().min(0, 'historyLength must not be negative').optional(),
  tenant: z.string().optional(),
});

export const TaskIdRequest = z.object({
  id: z.string().min(1, 'id is required'),
  metadata: z.record(z.string(), z.unknown()).optional(),
  tenant: z.string().optional(),
});

export const ListTasksRequest = z.object({
  contextId: z.string().optional(),
  status: TaskState.optional(),
  pageSize: z.coerce
    .number()
    .int()
    .min(1, 'pageSize must be between 1 and 100')
    .max(100, 'pageSize must be between 1 and 100')
    .optional(),
  pageToken: z.string().optional(),
  historyLength: z.coerce.number().int().min(0, 'historyLength must not be negative').optional(),
  statusTimestampAfter: Timestamp.optional(),
  includeArtifacts: z
    .union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')])
    .optional(),
  tenant: z.string().optional(),
});
export type ListTasksRequest = z.infer<typeof ListTasksRequest>;

export const PushConfigRef = z.object({
  taskId: z.string().min(1),
  id: z.string().min(1),
  tenant: z.string().optional(),
});
export const ListPushConfigsRequest = z.object({
  taskId: z.string().min(1),
  pageSize: z.coerce.number().int().min(1).max(100).optional(),
  pageToken: z.string().optional(),
  tenant: z.string().optional(),
});

// ---------------------------------------------------------------------------------------------------------
// ProtoJSON field names

/** Values under these keys are free-form (google.protobuf.Struct/Value): their keys are the client's. */
const FREE_FORM = new Set(['metadata', 'data', 'params', 'header']);

const camel = (key: string) => key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/**
 * Proto field names (`task_id`, `history_length`) as lowerCamelCase (`taskId`, `historyLength`), recursively,
 * as every ProtoJSON parser accepts both. Free-form maps keep their keys; when both spellings are sent, the
 * lowerCamelCase one wins. Runs after `checkRequestJson`, so the nesting is bounded.
 */
export const protoJsonKeys = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(protoJsonKeys);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  const entries = Object.entries(value);
  for (const [key, v] of entries) {
    const name = camel(key);
    if (name !== key && Object.hasOwn(value, name)) continue;
    out[name] = FREE_FORM.has(name) ? v : protoJsonKeys(v);
  }
  return out;
};

// ---------------------------------------------------------------------------------------------------------
// Hostile input: what PostgreSQL, the log or the stack would choke on gets a 400 naming the field

/** Keys whose string values (or list items) are ids, bounded by MAX_ID_LENGTH. */
const ID_KEYS = new Set([
  'id',
  'taskId',
  'task_id',
  'contextId',
  'context_id',
  'messageId',
  'message_id',
  'artifactId',
  'artifact_id',
  'tenant',
  'referenceTaskIds',
  'reference_task_ids',
]);

const invalid = (path: string, problem: string) =>
  new A2AError('INVALID_PARAMS', `Invalid params: ${path || 'the request'}: ${problem}`);

/** A JSON path for messages, cut short when a hostile one is very deep. */
const pathOf = (segments: Array<string | number>) => {
  const shown = segments.length > 12 ? [...segments.slice(0, 12), '…'] : segments;
  return shown.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
};

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const ANY_SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const stringProblem = (s: string): string | null => {
  if (s.includes('\u0000')) return 'must not contain NUL characters';
  // Most text holds no surrogate at all: the cheap scan first, the lookaround only when one is there.
  if (ANY_SURROGATE.test(s) && LONE_SURROGATE.test(s))
    return 'must be well-formed Unicode (it holds a lone UTF-16 surrogate)';
  return null;
};

/** A container being walked: its keys (arrays: null), where the walk is, and what it sits under. */
interface Level {
  container: unknown[] | Record<string, unknown>;
  keys: string[] | null;
  next: number;
  /** Its key in its parent (the root: none). */
  key: string | number | null;
  /** Under an id key: its items are ids too. */
  idKey: boolean;
  /** Inside a free-form map (metadata, a Part's data): its keys are the client's, not ids. */
  free: boolean;
}

const isContainer = (v: unknown): v is unknown[] | Record<string, unknown> =>
  typeof v === 'object' && v !== null;

/**
 * Refuses (INVALID_PARAMS, naming the field) NUL characters and lone surrogates in any string or key,
 * nesting deeper than MAX_JSON_DEPTH, and ids longer than MAX_ID_LENGTH. Iterative, with one cursor per
 * level: a 10,000-level document costs a loop, not a stack, and a wide one no more than its depth.
 */
export const checkRequestJson = (value: unknown, root: Array<string | number> = []): void => {
  const levels: Level[] = [];
  const where = (key?: string | number) =>
    pathOf([
      ...root,
      ...levels.flatMap((l) => (l.key === null ? [] : [l.key])),
      ...(key === undefined ? [] : [key]),
    ]);
  const enter = (v: unknown, key: string | number | null, idKey: boolean, free: boolean) => {
    if (!isContainer(v)) {
      if (typeof v !== 'string') return;
      const problem = stringProblem(v);
      if (problem) throw invalid(where(key ?? undefined), problem);
      if (idKey && v.length > MAX_ID_LENGTH)
        throw invalid(
          where(key ?? undefined),
          `must be at most ${MAX_ID_LENGTH} characters (got ${v.length})`,
        );
      return;
    }
    if (levels.length >= MAX_JSON_DEPTH)
      throw invalid(where(key ?? undefined), `nested deeper than ${MAX_JSON_DEPTH} levels`);
    levels.push({ container: v, keys: Array.isArray(v) ? null : Object.keys(v), next: 0, key, idKey, free });
  };
  enter(value, null, false, false);
  while (levels.length) {
    const level = levels.at(-1)!;
    const size = level.keys ? level.keys.length : (level.container as unknown[]).length;
    if (level.next >= size) {
      levels.pop();
      continue;
    }
    const i = level.next++;
    if (!level.keys) {
      enter((level.container as unknown[])[i], i, level.idKey, level.free);
      continue;
    }
    const key = level.keys[i]!;
    const problem = stringProblem(key);
    if (problem) throw invalid(where(key), `its name ${problem}`);
    const child = (level.container as Record<string, unknown>)[key];
    enter(child, key, !level.free && ID_KEYS.has(key), level.free || FREE_FORM.has(camel(key)));
  }
};

const jsonBytes = (value: unknown) => (value === undefined ? 0 : Buffer.byteLength(JSON.stringify(value)));

/**
 * What a client may send in SendMessage beyond its shape: only ROLE_USER messages (ROLE_AGENT ones are the
 * agent's to write), and at most `maxMessageBytes` of message, counted as the JSON the log will hold (its
 * parts, raw ones in base64, its metadata and ids) plus the request's metadata.
 */
export const checkClientMessage = (params: unknown, maxMessageBytes: number): void => {
  const request = (params ?? {}) as { message?: unknown; metadata?: unknown };
  const { message } = request;
  if (typeof message !== 'object' || message === null) return; // the schema says what is missing
  if ((message as { role?: unknown }).role === 'ROLE_AGENT')
    throw invalid('message.role', 'a client sends ROLE_USER messages; ROLE_AGENT is for the agent');
  const bytes = jsonBytes(message) + jsonBytes(request.metadata);
  if (bytes > maxMessageBytes) {
    throw new A2AError(
      'MESSAGE_TOO_LARGE',
      `Invalid params: message: ${bytes} bytes exceed the maximum message size of ${maxMessageBytes} bytes`,
      { maxMessageBytes: String(maxMessageBytes) },
    );
  }
};
