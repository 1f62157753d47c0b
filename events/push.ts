/** The push-notification aggregate's events: a task's webhook configs and its deliveries. */
import { z } from 'zod';

/**
 * The push-notification aggregate of one task (stream `push-<taskId>`): the webhook configs the client set
 * (A2A TaskPushNotificationConfig) and the record of every delivery, written as an intent before the POST
 * and an outcome after it (DESIGN.md principle 5), so a restart never repeats or hides a delivery silently.
 */
export const PushAuthentication = z.object({
  /** HTTP auth scheme: `Bearer`, `Basic`, ... */
  scheme: z.string().min(1),
  credentials: z.string().optional(),
});
export type PushAuthentication = z.infer<typeof PushAuthentication>;

export const PushConfigData = z.object({
  id: z.string().min(1),
  taskId: z.string().min(1),
  url: z.string().url(),
  token: z.string().optional(),
  authentication: PushAuthentication.optional(),
  /** The A2A request tenant, echoed back when the client gave one. */
  tenant: z.string().optional(),
});
export type PushConfigData = z.infer<typeof PushConfigData>;

/** Creates a config, or replaces the config with the same id. */
export const PushConfigSet = z.object({
  type: z.literal('PushConfigSet'),
  data: z.object({ config: PushConfigData, at: z.string() }),
});
export const PushConfigDeleted = z.object({
  type: z.literal('PushConfigDeleted'),
  data: z.object({ id: z.string().min(1), at: z.string() }),
});
/** Intent: the POST of task event `revision` to config `configId` is about to be made (1-based attempt). */
export const PushDeliveryAttempted = z.object({
  type: z.literal('PushDeliveryAttempted'),
  data: z.object({
    configId: z.string().min(1),
    revision: z.number().int().min(0),
    attempt: z.number().int().min(1),
    at: z.string(),
  }),
});
/** The receiver answered 2xx (its HTTP status). */
export const PushDeliverySucceeded = z.object({
  type: z.literal('PushDeliverySucceeded'),
  data: z.object({
    configId: z.string().min(1),
    revision: z.number().int().min(0),
    status: z.number().int(),
    at: z.string(),
  }),
});
/** A non-2xx answer, a timeout, a refused URL or a network error; `final` when the bus gives up. */
export const PushDeliveryFailed = z.object({
  type: z.literal('PushDeliveryFailed'),
  data: z.object({
    configId: z.string().min(1),
    revision: z.number().int().min(0),
    attempt: z.number().int().min(1),
    error: z.string(),
    final: z.boolean(),
    at: z.string(),
  }),
});

export const PushEvent = z.discriminatedUnion('type', [
  PushConfigSet,
  PushConfigDeleted,
  PushDeliveryAttempted,
  PushDeliverySucceeded,
  PushDeliveryFailed,
]);
export type PushEvent = z.infer<typeof PushEvent>;
export const pushStream = (taskId: string) => `push-${taskId}`;
