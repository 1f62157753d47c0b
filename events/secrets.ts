/**
 * Which event fields hold secrets, and an event as it may leave the hub: the one list every way out reads
 * (GET /api/events, webhooks, the audit read model), so a new secret field is added in one place.
 *
 * Secrets are redacted, not the events dropped: an integrator still sees that a key was issued or a push
 * config set (a gapless log, positions that resume), never the key's hash, a webhook's token or its
 * credentials.
 */

/**
 * Data fields that hold secrets: an API key's hash, a push webhook's token and credentials, a webhook
 * subscription's signing secret (events/webhook.ts).
 */
export const SECRET_FIELDS: ReadonlySet<string> = new Set(['keyHash', 'token', 'credentials', 'secret']);

/** What a secret field's value is replaced with. */
export const REDACTED = '[redacted]';

/** A copy of `value` with every secret field's value replaced by REDACTED, however deep. */
export const redactSecrets = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, SECRET_FIELDS.has(k) ? REDACTED : redactSecrets(v)]),
  );
};

/** Whether any secret field is in `value`, however deep: a walk of keys that allocates nothing. */
export const holdsSecrets = (value: unknown): boolean => {
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some(holdsSecrets);
  for (const k in value) {
    if (SECRET_FIELDS.has(k) || holdsSecrets((value as Record<string, unknown>)[k])) return true;
  }
  return false;
};

/**
 * The event as an integrator may be served it: the same envelope, its data with secrets redacted; the event
 * itself when it holds none (most do not), so the relay can pass every event through it.
 *
 * @example
 * sse.writeSSE({ id: String(event.position), data: JSON.stringify(servableEvent(event)) });
 */
export const servableEvent = <E extends { data: unknown }>(event: E): E =>
  holdsSecrets(event.data) ? { ...event, data: redactSecrets(event.data) } : event;
