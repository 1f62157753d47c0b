/**
 * ListTasks: one page of a tenant's tasks from the tasks read model, read only as far as it returns (rows,
 * history and artifacts cut in the query), bounded in bytes, and within the tenant's share of the process.
 */
import type { z } from 'zod';
import type { Task } from '../events/a2a.ts';
import { TenantByteRate } from '../infra/byte-rate.ts';
import { FairScheduler } from '../infra/fair-scheduler.ts';
import { type ListTasksLimits, listTasksLimits } from '../infra/limits.ts';
import type { SqlExecutor } from '../infra/sql/port.ts';
import { listTaskRows, type TaskListQuery } from '../projections/tasks.ts';
import { A2AError } from './errors.ts';
import { type ListTasksRequest, MAX_ID_LENGTH } from './schemas.ts';

/** Runs one ListTasks page for a tenant within its share; the page reports the bytes it returns. */
export type ListBudget = <T>(tenant: string, page: () => Promise<{ value: T; bytes: number }>) => Promise<T>;

/**
 * ListTasks' share of the process per tenant: a few pages at once (tenants taking turns for the rest) and
 * a byte rate. A page of large tasks costs the database, the parse and the answer's JSON about 10 ms per
 * MiB on the event loop that every tenant shares; paging through large tasks as fast as the answers come
 * held another tenant's p99 at 2-3x in the isolation benchmark. Past its rate a tenant's next page waits.
 */
export const listTasksBudget = (limits: ListTasksLimits = listTasksLimits()): ListBudget => {
  const gate = new FairScheduler(limits.perTenant, limits.total);
  const rate = new TenantByteRate(limits.bytesPerSecond, 2 * limits.bytesPerSecond);
  return (tenant, page) =>
    gate.run(tenant, async () => {
      await rate.ready(tenant);
      const { value, bytes } = await page();
      rate.spend(tenant, bytes);
      return value;
    });
};

/** historyLength: unset = everything, 0 = no history field, N = the N most recent messages. */
export const trimHistory = (task: Task, historyLength?: number): Task => {
  if (historyLength === undefined) return task;
  const { history, ...rest } = task;
  return historyLength === 0 ? rest : { ...rest, history: (history ?? []).slice(-historyLength) };
};

/**
 * The most one ListTasks page carries, as its tasks' JSON: a page of large tasks stops early (with a
 * nextPageToken), so no page costs the hub more than this, whatever pageSize asks for. 1 MiB: a tenant
 * paging through large tasks at 4 MiB a page held B's p99 at 4.5x in the isolation benchmark, at 1 MiB 2x.
 */
export const LIST_TASKS_MAX_BYTES = 1024 * 1024;

const encodeCursor = (at: string, id: string) => Buffer.from(JSON.stringify([at, id])).toString('base64url');
/** A token this server issued: a base64url JSON pair of an ISO timestamp (as encodeCursor wrote it) and an id. */
const decodeCursor = (token: string): { at: string; id: string } => {
  try {
    if (token.length > 1024 || !/^[A-Za-z0-9_-]+$/.test(token)) throw new Error();
    const [at, id] = JSON.parse(Buffer.from(token, 'base64url').toString()) as [string, string];
    if (typeof at !== 'string' || typeof id !== 'string' || id.length > MAX_ID_LENGTH) throw new Error();
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(at) || at.startsWith('0000')) throw new Error();
    if (new Date(at).toISOString() !== at) throw new Error();
    return { at, id };
  } catch {
    throw new A2AError('INVALID_PARAMS', 'pageToken is not a token this server issued');
  }
};

/** The page `request` asks for, in the answer's shape: tasks, nextPageToken, pageSize, totalSize. */
export const listTasksPage = async (
  readModels: SqlExecutor,
  budget: ListBudget,
  tenant: string,
  request: z.output<typeof ListTasksRequest>,
) => {
  const pageSize = request.pageSize ?? 50;
  const query: TaskListQuery = {
    tenant,
    contextId: request.contextId,
    state: request.status,
    statusAfter: request.statusTimestampAfter,
    ...(request.pageToken ? { after: decodeCursor(request.pageToken) } : {}),
    limit: pageSize + 1,
    maxBytes: LIST_TASKS_MAX_BYTES,
    historyLength: request.historyLength,
    includeArtifacts: request.includeArtifacts ?? false,
  };
  const rows = await budget(tenant, async () => {
    const value = await listTaskRows(readModels, query);
    return { value, bytes: value.reduce((sum, r) => sum + Number(r.bytes), 0) };
  });
  let totalSize = Number(rows[0]?.total ?? 0);
  if (rows.length === 0 && request.pageToken) {
    // An empty page past the end still reports the total.
    const [first] = await listTaskRows(readModels, {
      ...query,
      after: undefined,
      limit: 1,
      historyLength: 0,
    });
    totalSize = Number(first?.total ?? 0);
  }
  const page = rows.slice(0, pageSize);
  const last = page[page.length - 1];
  // More after this page: the row past pageSize came back, or the byte budget left rows out.
  const more = rows.length > pageSize || Number(rows[0]?.fetched ?? 0) > rows.length;
  const nextPageToken = more && last ? encodeCursor(new Date(last.status_at).toISOString(), last.id) : '';
  // The rows are cut down already (listTaskRows); this only shapes `history` as trimHistory always does.
  const tasks = page.map((r) => trimHistory(r.task, request.historyLength));
  return { tasks, nextPageToken, pageSize, totalSize };
};
