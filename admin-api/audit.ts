/**
 * Refused admin requests in the tenant's audit trail: a write (POST, PATCH, DELETE) answered with a 4xx by
 * an authenticated caller is recorded as CommandRefused (commands/audit.ts); accepted ones are audited from
 * the events they wrote. Anonymous requests are not: they have no tenant to be recorded in.
 */
import type { Context } from 'hono';
import { callerOf, type EdgeEnv, sourceOf } from '../a2a-edge/auth.ts';
import { type RefusedBy, recordRefusal, refusalOf } from '../commands/audit.ts';
import type { EventStore } from '../infra/event-store/port.ts';

/** The command each admin write would have made, by method and path (under /api/admin). */
const ADMIN_COMMANDS: Array<[method: string, path: RegExp, command: string]> = [
  ['POST', /\/agents\/?$/, 'RegisterAgent'],
  ['PATCH', /\/agents\/[^/]+\/?$/, 'UpdateAgent'],
  ['POST', /\/agents\/[^/]+\/disable\/?$/, 'DisableAgent'],
  ['POST', /\/agents\/[^/]+\/enable\/?$/, 'EnableAgent'],
  ['POST', /\/agents\/[^/]+\/refresh\/?$/, 'RefreshCard'],
  ['DELETE', /\/agents\/[^/]+\/?$/, 'DeregisterAgent'],
  ['POST', /\/workflows\/?$/, 'DefineWorkflow'],
  ['POST', /\/workflows\/[^/]+\/runs\/?$/, 'StartRun'],
];

const WRITES = new Set(['POST', 'PATCH', 'PUT', 'DELETE']);

/** The command of an admin request, or its method and path for a route this list does not name. */
export const adminCommandOf = (method: string, path: string): string =>
  ADMIN_COMMANDS.find(([m, p]) => m === method && p.test(path))?.[2] ?? `${method} ${path}`;

/** Who made the request: the tenant it acts for, or its key's own when it may not act for that one. */
const refusedBy = (c: Context<EdgeEnv>): RefusedBy | null => {
  const holder = c.get('holder');
  if (!holder) return null;
  try {
    return callerOf(c, c.req.query('tenant') || undefined);
  } catch {
    const requestId = c.get('requestId');
    const source = sourceOf(c);
    return {
      tenant: holder.tenant,
      principal: holder.principal,
      ...(requestId ? { requestId } : {}),
      ...(source ? { source } : {}),
    };
  }
};

/**
 * Records the refusal of an admin write (status 400-499 but 401), before it is answered.
 *
 * @example
 * app.onError(async (error, c) => { const e = toAdminError(error); await auditAdminRefusal(store, c, error, e); ... });
 */
export const auditAdminRefusal = async (
  store: EventStore,
  c: Context<EdgeEnv>,
  error: unknown,
  answer: { code: number; status: string; message: string },
): Promise<void> => {
  if (!WRITES.has(c.req.method) || answer.code < 400 || answer.code >= 500 || answer.code === 401) return;
  const by = refusedBy(c);
  if (!by) return;
  const command = adminCommandOf(c.req.method, c.req.path);
  await recordRefusal(
    store,
    by,
    refusalOf(error, { command, stream: null, status: answer.status, reason: answer.message }),
  ).catch(() => {}); // the answer stays the refusal even if its entry cannot be written (a2a-edge/service.ts)
};
