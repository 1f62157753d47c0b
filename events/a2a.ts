/** The A2A v1.0 data model (Message, Part, Task, Artifact, ...) as zod schemas, the shapes the log stores. */
import { z } from 'zod';

/**
 * A2A v1.0 data as the hub stores it: ProtoJSON shapes (camelCase, no `kind`, a Part holds exactly one of
 * text | raw | url | data). v0.3 peers are translated at the edge, never in the log.
 */
const metadata = z.record(z.string(), z.unknown());

export const Part = z
  .object({
    text: z.string().optional(),
    raw: z.string().base64('raw must be base64').optional(),
    url: z.string().url().optional(),
    data: z.unknown().optional(),
    mediaType: z.string().optional(),
    filename: z.string().optional(),
    metadata: metadata.optional(),
  })
  .refine(
    (p) =>
      ['text', 'raw', 'url', 'data'].filter((k) => (p as Record<string, unknown>)[k] !== undefined).length ===
      1,
    {
      message: 'a part holds exactly one of text, raw, url or data',
    },
  );
export type Part = z.infer<typeof Part>;

export const Role = z.enum(['ROLE_USER', 'ROLE_AGENT']);

export const Message = z.object({
  messageId: z.string().min(1),
  role: Role,
  parts: z.array(Part).min(1, 'parts must hold at least one part'),
  contextId: z.string().min(1).optional(),
  taskId: z.string().min(1).optional(),
  metadata: metadata.optional(),
  extensions: z.array(z.string()).optional(),
  referenceTaskIds: z.array(z.string()).optional(),
});
export type Message = z.infer<typeof Message>;

export const Artifact = z.object({
  artifactId: z.string().min(1),
  name: z.string().optional(),
  description: z.string().optional(),
  parts: z.array(Part).min(1, 'an artifact holds at least one part'),
  metadata: metadata.optional(),
  extensions: z.array(z.string()).optional(),
});
export type Artifact = z.infer<typeof Artifact>;

export const TASK_STATES = [
  'TASK_STATE_SUBMITTED',
  'TASK_STATE_WORKING',
  'TASK_STATE_INPUT_REQUIRED',
  'TASK_STATE_AUTH_REQUIRED',
  'TASK_STATE_COMPLETED',
  'TASK_STATE_FAILED',
  'TASK_STATE_CANCELED',
  'TASK_STATE_REJECTED',
] as const;
export const TaskState = z.enum(TASK_STATES);
export type TaskState = z.infer<typeof TaskState>;

export const TERMINAL_STATES: ReadonlySet<TaskState> = new Set([
  'TASK_STATE_COMPLETED',
  'TASK_STATE_FAILED',
  'TASK_STATE_CANCELED',
  'TASK_STATE_REJECTED',
]);
export const INTERRUPTED_STATES: ReadonlySet<TaskState> = new Set([
  'TASK_STATE_INPUT_REQUIRED',
  'TASK_STATE_AUTH_REQUIRED',
]);

export const TaskStatus = z.object({
  state: TaskState,
  message: Message.optional(),
  timestamp: z.string(),
});
export type TaskStatus = z.infer<typeof TaskStatus>;

export const Task = z.object({
  id: z.string(),
  contextId: z.string(),
  status: TaskStatus,
  artifacts: z.array(Artifact).optional(),
  history: z.array(Message).optional(),
  metadata: metadata.optional(),
});
export type Task = z.infer<typeof Task>;

/** A2A StreamResponse (v1.0): exactly one member. */
export type StreamResponse =
  | { task: Task }
  | { message: Message }
  | {
      statusUpdate: {
        taskId: string;
        contextId: string;
        status: Task['status'];
        metadata?: Record<string, unknown>;
      };
    }
  | {
      artifactUpdate: {
        taskId: string;
        contextId: string;
        artifact: NonNullable<Task['artifacts']>[number];
        append?: boolean;
        lastChunk?: boolean;
      };
    };
