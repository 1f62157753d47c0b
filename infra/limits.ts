/**
 * The limits that keep one tenant from exhausting a process for the others (README, Limits), read from the
 * environment: the composition root reads them with the rest of the configuration, and a module that is not
 * handed them (an edge route built in a test) reads its own with the same schema and defaults.
 */
import { z } from 'zod';
import { describeZodIssues } from '../events/issues.ts';

export const limit = (fallback: number, max = 1_000_000) =>
  z.coerce.number().int().min(1).max(max).default(fallback);

/** Limits of the integrators' event streams, GET /api/events (read-api/events.ts); counted per process. */
export const EventStreamEnv = z.object({
  /** Event streams open at once per API key. */
  AGENTCORE_MAX_EVENT_STREAMS_PER_KEY: limit(8),
  /** Event streams open at once per tenant, whatever its keys. */
  AGENTCORE_MAX_EVENT_STREAMS_PER_TENANT: limit(32),
  /** A stream whose reader has taken nothing for this long is dropped. */
  AGENTCORE_EVENT_STREAM_STALL_MS: limit(30_000, 3_600_000),
  /** Events read from the log at a time per stream: the most a slow reader holds in memory. */
  AGENTCORE_EVENT_STREAM_PAGE_SIZE: limit(100, 1000),
  /** Bytes of event data read from the log at a time per stream (the first event always comes). */
  AGENTCORE_EVENT_STREAM_PAGE_BYTES: limit(256 * 1024, 4 * 1024 * 1024),
  /** Reads of the log in flight at once for one tenant's streams, and for all streams (the rest wait). */
  AGENTCORE_EVENT_STREAM_READS_PER_TENANT: limit(2, 1000),
  AGENTCORE_EVENT_STREAM_READS: limit(4, 1000),
  /** Bytes per second one tenant's streams send, all together (a burst of one second's worth first). */
  AGENTCORE_EVENT_STREAM_BYTES_PER_SECOND: limit(1024 * 1024, 1024 * 1024 * 1024),
});

/** Limits of ListTasks (a2a-edge/service.ts), on every binding; counted per process. */
export const ListTasksEnv = z.object({
  /** ListTasks in flight at once for one tenant, and for all tenants (the rest wait, tenants in turn). */
  AGENTCORE_LIST_TASKS_PER_TENANT: limit(2, 1000),
  AGENTCORE_LIST_TASKS: limit(8, 1000),
  /** Bytes of tasks per second one tenant's ListTasks return, together (a burst of two seconds' worth). */
  AGENTCORE_LIST_TASKS_BYTES_PER_SECOND: limit(2 * 1024 * 1024, 1024 * 1024 * 1024),
});

/** Limits of push notifications (commands/push-config.ts, sagas/push-delivery.ts). */
export const PushEnv = z.object({
  /** Live push-notification configs per task; one more is refused. */
  AGENTCORE_MAX_PUSH_CONFIGS_PER_TASK: limit(10, 1000),
  /** Deliveries in flight at once per tenant, per saga process (the others of that tenant queue). */
  AGENTCORE_PUSH_CONCURRENCY_PER_TENANT: limit(8, 1000),
  /** Longest wait before an endpoint that failed or timed out is tried again (the backoff doubles up to it). */
  AGENTCORE_PUSH_ENDPOINT_MAX_BACKOFF_MS: limit(60_000, 3_600_000),
});

export interface EventStreamLimits {
  perKey: number;
  perTenant: number;
  stallMs: number;
  pageSize: number;
  pageBytes: number;
  readsPerTenant: number;
  reads: number;
  bytesPerSecond: number;
}

export interface ListTasksLimits {
  perTenant: number;
  total: number;
  bytesPerSecond: number;
}

export interface PushLimits {
  maxConfigsPerTask: number;
  concurrencyPerTenant: number;
  endpointMaxBackoffMs: number;
}

export const toEventStreamLimits = (e: z.infer<typeof EventStreamEnv>): EventStreamLimits => ({
  perKey: e.AGENTCORE_MAX_EVENT_STREAMS_PER_KEY,
  perTenant: e.AGENTCORE_MAX_EVENT_STREAMS_PER_TENANT,
  stallMs: e.AGENTCORE_EVENT_STREAM_STALL_MS,
  pageSize: e.AGENTCORE_EVENT_STREAM_PAGE_SIZE,
  pageBytes: e.AGENTCORE_EVENT_STREAM_PAGE_BYTES,
  readsPerTenant: e.AGENTCORE_EVENT_STREAM_READS_PER_TENANT,
  reads: e.AGENTCORE_EVENT_STREAM_READS,
  bytesPerSecond: e.AGENTCORE_EVENT_STREAM_BYTES_PER_SECOND,
});

export const toPushLimits = (e: z.infer<typeof PushEnv>): PushLimits => ({
  maxConfigsPerTask: e.AGENTCORE_MAX_PUSH_CONFIGS_PER_TASK,
  concurrencyPerTenant: e.AGENTCORE_PUSH_CONCURRENCY_PER_TENANT,
  endpointMaxBackoffMs: e.AGENTCORE_PUSH_ENDPOINT_MAX_BACKOFF_MS,
});

/** The event-stream limits alone, for a module that is not handed the Config. */
export const eventStreamLimits = (
  env: Record<string, string | undefined> = process.env,
): EventStreamLimits => {
  const parsed = EventStreamEnv.safeParse(env);
  if (!parsed.success) throw new Error(`invalid configuration: ${describeZodIssues(parsed.error.issues)}`);
  return toEventStreamLimits(parsed.data);
};

/** The ListTasks limits alone, for a module that is not handed the Config. */
export const listTasksLimits = (env: Record<string, string | undefined> = process.env): ListTasksLimits => {
  const parsed = ListTasksEnv.safeParse(env);
  if (!parsed.success) throw new Error(`invalid configuration: ${describeZodIssues(parsed.error.issues)}`);
  const e = parsed.data;
  return {
    perTenant: e.AGENTCORE_LIST_TASKS_PER_TENANT,
    total: e.AGENTCORE_LIST_TASKS,
    bytesPerSecond: e.AGENTCORE_LIST_TASKS_BYTES_PER_SECOND,
  };
};

/** The push limits alone, for a module that is not handed the Config. */
export const pushLimits = (env: Record<string, string | undefined> = process.env): PushLimits => {
  const parsed = PushEnv.safeParse(env);
  if (!parsed.success) throw new Error(`invalid configuration: ${describeZodIssues(parsed.error.issues)}`);
  return toPushLimits(parsed.data);
};
