import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import type { EdgeEnv } from '../a2a-edge/auth.ts';
import { describeZodIssues } from '../commands/errors.ts';
import type { EventStore } from '../infra/event-store/port.ts';

const Query = z.object({
  /** Resume after this global position (the `id` of the last SSE event received); 0 = from the start. */
  after: z.coerce.number().int().min(0).default(0),
  /** Only these event types (comma-separated). */
  types: z
    .string()
    .optional()
    .transform((v) => (v ? v.split(',').filter(Boolean) : undefined)),
  /** Only streams whose name starts with this (e.g. `task-`). */
  streamPrefix: z.string().optional(),
});

/**
 * Event subscriptions for integrators: the caller's tenant's events as SSE, catch-up from any position then
 * live, each event's global position as the SSE id (so `Last-Event-ID` resumes where a client left off).
 */
export const eventRoutes = (store: EventStore) => {
  const app = new Hono<EdgeEnv>();
  app.get('/events', (c) => {
    const holder = c.get('holder');
    if (!holder)
      return c.json(
        { error: { code: 401, status: 'UNAUTHENTICATED', message: 'A valid API key is required' } },
        401,
      );
    const parsed = Query.safeParse(c.req.query());
    if (!parsed.success) {
      return c.json(
        { error: { code: 400, status: 'INVALID_ARGUMENT', message: describeZodIssues(parsed.error.issues) } },
        400,
      );
    }
    const lastEventId = Number(c.req.header('last-event-id'));
    const after = Number.isInteger(lastEventId) && lastEventId > 0 ? lastEventId : parsed.data.after;
    const { types, streamPrefix } = parsed.data;
    return streamSSE(c, async (sse) => {
      const subscription = store.subscribeAll({ after, filter: { types, streamPrefix } });
      sse.onAbort(() => void subscription.close());
      for await (const event of subscription) {
        if (event.metadata.tenant !== holder.tenant) continue;
        await sse.writeSSE({ id: String(event.position), event: event.type, data: JSON.stringify(event) });
      }
    });
  });
  return app;
};
