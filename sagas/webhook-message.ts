/**
 * A logged event as a webhook message: a CloudEvents 1.0 JSON body (structured mode), signed the way
 * Standard Webhooks specifies (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<HMAC-SHA256>`).
 */
import { randomBytes } from 'node:crypto';
import { CloudEvent, HTTP } from 'cloudevents';
import { Webhook } from 'standardwebhooks';
import { derivedUuid, type RecordedEvent } from '../events/envelope.ts';
import { servableEvent } from '../events/secrets.ts';

/** The CloudEvents `type` of a hub event: `agentcore.` and the event type (`agentcore.TaskSubmitted`). */
export const cloudEventType = (eventType: string) => `agentcore.${eventType}`;
/** The CloudEvents `source`: the tenant and the stream the event belongs to. */
export const cloudEventSource = (tenant: string, stream: string) =>
  `/agentcore/tenants/${encodeURIComponent(tenant)}/streams/${encodeURIComponent(stream)}`;

/**
 * The CloudEvent of a logged event. `id` is the event id (unique per source), `time` when it was
 * recorded, `subject` its stream; `data` its data, secrets redacted (events/secrets.ts). Extensions
 * (lower-case, as CloudEvents requires): `stream`, `revision` (0-based in the stream), `position` (the
 * global log position, a string: it may outgrow CloudEvents' 32-bit Integer), `correlationid`,
 * `causationid` (when there is one), `tenant`, `schemaversion`, and `traceparent` (the CloudEvents
 * distributed-tracing extension) when the event carries one.
 */
export const toCloudEvent = (event: RecordedEvent): CloudEvent<unknown> => {
  const { tenant, correlationId, causationId, traceparent } = event.metadata;
  return new CloudEvent<unknown>({
    specversion: '1.0',
    id: event.id,
    source: cloudEventSource(tenant, event.stream),
    type: cloudEventType(event.type),
    subject: event.stream,
    time: event.occurredAt,
    datacontenttype: 'application/json',
    data: servableEvent(event).data,
    stream: event.stream,
    revision: event.revision,
    position: String(event.position),
    correlationid: correlationId,
    ...(causationId ? { causationid: causationId } : {}),
    tenant,
    schemaversion: event.schemaVersion,
    ...(traceparent ? { traceparent } : {}),
  });
};

/** The body and content type of the structured-mode HTTP message (`application/cloudevents+json`). */
export const structuredBody = (event: RecordedEvent): { body: string; contentType: string } => {
  const message = HTTP.structured(toCloudEvent(event));
  const contentType = String(message.headers['content-type'] ?? 'application/cloudevents+json');
  return { body: String(message.body), contentType };
};

/**
 * `webhook-id`: the same for every attempt at one event to one subscription (so a receiver drops a
 * duplicate by it), different across subscriptions. `msg_` and a UUID derived from both ids.
 */
export const webhookMessageId = (subscriptionId: string, eventId: string) =>
  `msg_${derivedUuid(`${subscriptionId}/${eventId}`).replaceAll('-', '')}`;

/** The Standard Webhooks headers of one attempt at `body`. */
export const signedHeaders = (
  secret: string,
  messageId: string,
  body: string,
  now: Date,
): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> => ({
  'webhook-id': messageId,
  'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
  'webhook-signature': new Webhook(secret).sign(messageId, now, body),
});

/** A new signing secret as Standard Webhooks writes them: `whsec_` and 32 random bytes in base64. */
export const newWebhookSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

/** Whether `secret` is a Standard Webhooks secret: `whsec_` and base64 of 24 to 64 bytes. */
export const isWebhookSecret = (secret: string): boolean => {
  const m = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret);
  if (!m || m[1]!.length % 4 !== 0) return false;
  const bytes = Buffer.from(m[1]!, 'base64').length;
  return bytes >= 24 && bytes <= 64;
};
