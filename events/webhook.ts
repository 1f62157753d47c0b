/** The webhook subscription aggregate's events: an integrator's subscription, its state and dead letters. */
import { z } from 'zod';

/**
 * One webhook subscription of a tenant (stream `webhook-<subscriptionId>`, the tenant in the metadata):
 * which events go where, signed with which secret, whether delivery runs, and the events that could not
 * be delivered (dead letters). Deliveries themselves are not events: the delivery saga keeps its position
 * in a table (sagas/webhook-checkpoints.ts), so 5,000 deliveries do not write 5,000 events.
 *
 * `secret` (Standard Webhooks `whsec_<base64>`) is in WebhookSubscribed only, in the field `secret`:
 * it must never be served to integrators (redacted by that field name).
 */
export const WebhookFilter = z.strictObject({
  /** Only these event types. */
  types: z.array(z.string().min(1).max(200)).min(1).max(50).optional(),
  /** Only streams whose name starts with this (e.g. `task-`). */
  streamPrefix: z.string().min(1).max(500).optional(),
  /** Only events of this correlation (one task's, or a workflow run's `wfrun:<run id>`). */
  correlationId: z.string().min(1).max(500).optional(),
});
export type WebhookFilter = z.infer<typeof WebhookFilter>;

const subscriptionId = z.string().min(1).max(100);
const at = z.string();
/** A global log position: deliveries start after it. */
const position = z.number().int().min(0);

export const WebhookSubscribed = z.object({
  type: z.literal('WebhookSubscribed'),
  data: z.object({
    subscriptionId,
    url: z.string().url(),
    filter: WebhookFilter,
    secret: z.string().min(1),
    /** Deliver the events after this position; null: after this event (from the moment of subscribing). */
    after: position.nullable(),
    description: z.string().max(500).optional(),
    at,
  }),
});
export const WebhookPaused = z.object({
  type: z.literal('WebhookPaused'),
  data: z.object({ subscriptionId, at }),
});
export const WebhookResumed = z.object({
  type: z.literal('WebhookResumed'),
  data: z.object({ subscriptionId, at }),
});
/** Delivery goes back (or forward) to the events after `after`: what was delivered may come again. */
export const WebhookReplayRequested = z.object({
  type: z.literal('WebhookReplayRequested'),
  data: z.object({ subscriptionId, after: position, at }),
});
export const WebhookUnsubscribed = z.object({
  type: z.literal('WebhookUnsubscribed'),
  data: z.object({ subscriptionId, at }),
});
/** Every attempt at an event failed: it waits in the dead-letter list, and later events go on. */
export const WebhookDeliveryDeadLettered = z.object({
  type: z.literal('WebhookDeliveryDeadLettered'),
  data: z.object({
    subscriptionId,
    eventId: z.string().min(1),
    stream: z.string().min(1),
    revision: z.number().int().min(0),
    position,
    eventType: z.string().min(1),
    attempts: z.number().int().min(1),
    error: z.string(),
    at,
  }),
});
/** These dead letters are to be delivered again (outside the log order: they are late by now). */
export const WebhookDeadLetterRedriven = z.object({
  type: z.literal('WebhookDeadLetterRedriven'),
  data: z.object({ subscriptionId, eventIds: z.array(z.string().min(1)).min(1), at }),
});
/** A re-driven dead letter reached the receiver: it leaves the list. */
export const WebhookDeadLetterDelivered = z.object({
  type: z.literal('WebhookDeadLetterDelivered'),
  data: z.object({ subscriptionId, eventId: z.string().min(1), at }),
});

export const WebhookEvent = z.discriminatedUnion('type', [
  WebhookSubscribed,
  WebhookPaused,
  WebhookResumed,
  WebhookReplayRequested,
  WebhookUnsubscribed,
  WebhookDeliveryDeadLettered,
  WebhookDeadLetterRedriven,
  WebhookDeadLetterDelivered,
]);
export type WebhookEvent = z.infer<typeof WebhookEvent>;

export const WEBHOOK_STREAM_PREFIX = 'webhook-';
export const webhookStream = (subscriptionId: string) => `${WEBHOOK_STREAM_PREFIX}${subscriptionId}`;
