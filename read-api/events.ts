/**
 * Event subscriptions for integrators, GET /api/events: the caller's tenant's events as SSE, catch-up from
 * any position then live, each event's global position as the SSE id (so `Last-Event-ID` resumes where a
 * client left off).
 *
 * One tenant must not be able to exhaust the hub for the others, so:
 * - the store reads only the tenant's events (a tenant filter in the query, over an index), a page of
 *   `pageSize` events or `pageBytes` at a time, and the next page only once the last event was written;
 * - the reads of all streams share `reads` slots, at most `readsPerTenant` for one tenant, tenants taking
 *   turns (infra/fair-scheduler.ts): a tenant's many streams catching up on a large log wait for each
 *   other, not the database's or the process's time that other tenants' requests need;
 * - a tenant's streams together send at most `bytesPerSecond` (infra/byte-rate.ts): replaying a large log
 *   on many streams takes a bounded share of the process;
 * - a write completes only when the socket has taken it (Hono's streamSSE writes into a TransformStream
 *   whose reader, @hono/node-server, stops reading while the socket's write() answers false, until
 *   'drain'): a reader that does not read stops the store reads, and one that has taken nothing for
 *   `stallMs` is dropped (its subscription closed, its connection destroyed);
 * - at most `perKey` streams per API key and `perTenant` per tenant are open at once in this process;
 *   one more is answered 429.
 * Secrets in events (an API key's hash, a webhook's token or credentials) are served redacted: the event
 * stays (a gapless log, and the audit trail that a key was issued), the secret never leaves the hub. The
 * list of secret fields is events/secrets.ts's, shared with every other way events leave the hub.
 */
import { ServerResponse } from 'node:http';
import { type SSEStreamingApi, streamSSE } from 'hono/streaming';
import { z } from 'zod';
import type { KeyHolder } from '../a2a-edge/auth.ts';
import type { RecordedEvent } from '../events/envelope.ts';
import { describeZodIssues } from '../events/issues.ts';
import { servableEvent } from '../events/secrets.ts';
import { TenantByteRate } from '../infra/byte-rate.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import { FairScheduler } from '../infra/fair-scheduler.ts';
import { type EventStreamLimits, eventStreamLimits } from '../infra/limits.ts';
import { ApiError, readErrors, readRoute, readRouter } from './openapi.ts';
import { queryParams, queryText } from './query-text.ts';

/** A global position as a client may send it: digits only, within what a JS number holds exactly. */
const position = z
  .string()
  .regex(/^\d+$/, 'must be a non-negative whole number (an event position)')
  .transform(Number)
  .refine(Number.isSafeInteger, `must be at most ${Number.MAX_SAFE_INTEGER}`);

const Query = queryParams({
  /** Resume after this global position (the `id` of the last SSE event received); 0 = from the start. */
  after: position.default(0),
  /** Only these event types (comma-separated). */
  types: queryText(2000)
    .optional()
    .transform((v) => (v ? v.split(',').filter(Boolean) : undefined))
    .pipe(
      z
        .array(z.string().max(200, 'a type has at most 200 characters'))
        .max(50, 'at most 50 types')
        .optional(),
    ),
  /** Only streams whose name starts with this (e.g. `task-`). */
  streamPrefix: queryText(500).optional(),
  /** Only events of this correlation (metadata `correlationId`): one task's, or a workflow run's `wfrun:<run id>`. */
  correlationId: queryText(500).optional(),
});

const status = (code: number, name: string, message: string) => ({ error: { code, status: name, message } });

/** Open streams per key and per tenant in this process; `open` answers why not, or a release function. */
const streamCounter = (limits: EventStreamLimits) => {
  const perKey = new Map<string, number>();
  const perTenant = new Map<string, number>();
  const bump = (m: Map<string, number>, k: string, by: number) => {
    const n = (m.get(k) ?? 0) + by;
    if (n > 0) m.set(k, n);
    else m.delete(k);
  };
  return {
    open(holder: KeyHolder): { refused: string } | { release: () => void } {
      if ((perKey.get(holder.principal) ?? 0) >= limits.perKey) {
        return {
          refused: `this API key has ${limits.perKey} event streams open, the most allowed (AGENTCORE_MAX_EVENT_STREAMS_PER_KEY): close one first`,
        };
      }
      if ((perTenant.get(holder.tenant) ?? 0) >= limits.perTenant) {
        return {
          refused: `tenant ${holder.tenant} has ${limits.perTenant} event streams open, the most allowed (AGENTCORE_MAX_EVENT_STREAMS_PER_TENANT): close one first`,
        };
      }
      bump(perKey, holder.principal, 1);
      bump(perTenant, holder.tenant, 1);
      let released = false;
      return {
        release: () => {
          if (released) return;
          released = true;
          bump(perKey, holder.principal, -1);
          bump(perTenant, holder.tenant, -1);
        },
      };
    },
  };
};

/** Resolves true once `write` completes, false if it has not after `ms` (the reader stalled). */
const within = async (write: Promise<unknown>, ms: number): Promise<boolean> => {
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([write.then(() => true as const), stalled]);
  } finally {
    clearTimeout(timer);
  }
};

const toSse = (event: RecordedEvent) => ({
  id: String(event.position),
  event: event.type,
  data: JSON.stringify(servableEvent(event)),
});

/** `after` from the query, or from a `Last-Event-ID` header (which wins, as EventSource resumes with it). */
const resumePosition = (header: string | undefined, after: number): number | { invalid: string } => {
  if (header === undefined || header.trim() === '') return after;
  const parsed = position.safeParse(header.trim());
  return parsed.success
    ? parsed.data
    : { invalid: `Last-Event-ID: ${describeZodIssues(parsed.error.issues)}` };
};

const route = readRoute({
  method: 'get',
  path: '/events',
  summary: "The tenant's events as Server-Sent Events, from any position, then live",
  description:
    'Each SSE message: `id` the global position (send it back as `Last-Event-ID` to resume), `event` the type, ' +
    '`data` the event envelope as JSON, secrets redacted.',
  request: {
    query: Query,
    headers: z.object({ 'last-event-id': z.string().optional().describe('Resume after this position') }),
  },
  responses: {
    200: {
      description: 'An SSE stream of events',
      content: {
        'text/event-stream': {
          schema: z.string().describe('id: <position>\nevent: <type>\ndata: <event JSON>\n\n, repeated'),
        },
      },
    },
    ...readErrors,
    429: {
      description: 'Too many event streams open for this key or tenant (Retry-After)',
      content: { 'application/json': { schema: ApiError } },
    },
  },
});

/**
 * @example
 * app.route('/api', eventRoutes(store)); // limits from AGENTCORE_MAX_EVENT_STREAMS_* and friends
 */
export const eventRoutes = (store: EventStore, limits: EventStreamLimits = eventStreamLimits()) => {
  const app = readRouter();
  const counter = streamCounter(limits);
  const reads = new FairScheduler(limits.readsPerTenant, limits.reads);
  const rate = new TenantByteRate(limits.bytesPerSecond);
  app.openapi(route, async (c) => {
    const holder = c.get('holder')!; // readRoute answered 401 without one
    const parsed = { data: c.req.valid('query') };
    const after = resumePosition(c.req.header('last-event-id'), parsed.data.after);
    if (typeof after !== 'number') return c.json(status(400, 'INVALID_ARGUMENT', after.invalid), 400);
    const filter = {
      tenant: holder.tenant,
      types: parsed.data.types,
      streamPrefix: parsed.data.streamPrefix,
      correlationId: parsed.data.correlationId,
    };
    try {
      // Throws RangeError when `after` is no position of the log (the SQL stores check; EventStoreDB cannot).
      if (after > 0) await store.readAll({ after, maxCount: 1, filter });
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      const field = c.req.header('last-event-id')?.trim() ? 'Last-Event-ID' : 'after';
      return c.json(status(400, 'INVALID_ARGUMENT', `${field}: position ${after} is not in the log`), 400);
    }
    const opened = counter.open(holder);
    if ('refused' in opened) {
      c.header('Retry-After', '5');
      return c.json(status(429, 'RESOURCE_EXHAUSTED', opened.refused), 429);
    }
    const outgoing: unknown = (c.env as { outgoing?: unknown } | undefined)?.outgoing;
    return streamSSE(c, async (sse) => {
      const subscription = store.subscribeAll({
        after,
        filter,
        pageSize: limits.pageSize,
        pageBytes: limits.pageBytes,
        readGate: (read) => reads.run(holder.tenant, read),
      });
      /** Ends the stream for good: its reader left, stalled, or the log failed. */
      const drop = (destroy: boolean) => {
        opened.release();
        void subscription.close();
        if (!destroy) return;
        // Without the socket (another server adapter), aborting the stream is the most that can be done.
        if (outgoing instanceof ServerResponse) outgoing.destroy();
        else sse.abort();
      };
      sse.onAbort(() => drop(false));
      try {
        for await (const event of subscription) {
          const message = toSse(event);
          if (!(await within(sse.writeSSE(message), limits.stallMs))) return drop(true);
          rate.spend(holder.tenant, message.data.length);
          await rate.ready(holder.tenant);
        }
      } catch {
        await within(writeFailure(sse), 1000);
      } finally {
        drop(false);
      }
    });
  });
  return app;
};

/** Tells the client the stream broke (it may resume with Last-Event-ID); nothing internal is revealed. */
const writeFailure = (sse: SSEStreamingApi) =>
  sse.writeSSE({
    event: 'error',
    data: JSON.stringify(
      status(503, 'UNAVAILABLE', 'the event log could not be read; resume with Last-Event-ID'),
    ),
  });
