import { z } from 'zod';
import { Message, TaskState } from '../events/a2a.ts';

/** Request shapes of A2A v1.0 (ProtoJSON). Unknown fields are ignored, as the spec asks. */
export const PushConfigInput = z.object({
  id: z.string().min(1).optional(),
  taskId: z.string().optional(),
  url: z.string().url('url must be an absolute URL'),
  token: z.string().optional(),
  authentication: z.object({ scheme: z.string().min(1), credentials: z.string().optional() }).optional(),
  tenant: z.string().optional(),
});
export type PushConfigInput = z.infer<typeof PushConfigInput>;

export const SendMessageRequest = z.object({
  message: Message,
  configuration: z
    .object({
      acceptedOutputModes: z.array(z.string()).optional(),
      taskPushNotificationConfig: PushConfigInput.optional(),
      historyLength: z.number().int().min(0, 'historyLength must not be negative').optional(),
      returnImmediately: z.boolean().optional(),
    })
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
  statusTimestampAfter: z.string().datetime({ offset: true }).optional(),
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
