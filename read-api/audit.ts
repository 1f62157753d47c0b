/**
 * The audit trail for operators: who did what, accepted or refused, and a check of its hash chain.
 *
 *   GET /api/audit?principal=&commandType=&outcome=accepted|refused&streamPrefix=&from=&to=&limit=&cursor=
 *       → {entries, nextCursor}: newest first; `from` inclusive, `to` exclusive (ISO 8601 instants)
 *   GET /api/audit/verify → {tenant, ok, entries, broken?: {id, seq, reason}}: the first entry whose chain breaks
 *
 * Scoped to the caller's tenant (or `tenant`, when the key may act for it). Any key of the tenant may read
 * its audit trail for now (roles come later).
 */
import { z } from 'zod';
import type { SqlExecutor } from '../infra/sql/port.ts';
import { verifyChain } from '../projections/audit-chain.ts';
import { listAuditEntries } from '../projections/audit-query.ts';
import { readErrors, readRoute, readRouter, tenantOf } from './openapi.ts';
import { queryInstant, queryLimit, queryParams, queryText, rangeInOrder } from './query-text.ts';

/** An opaque cursor: the seq the next page starts before, in a form clients are not tempted to compute. */
const encodeAuditCursor = (seq: number) => Buffer.from(`audit:${seq}`).toString('base64url');

const auditCursor = z
  .string()
  .max(100, 'is not a cursor this API gave (too long)')
  .transform((value, ctx): number => {
    const match = /^audit:(\d{1,15})$/.exec(Buffer.from(value, 'base64url').toString('utf8'));
    if (!match || Number(match[1]) < 1) {
      ctx.addIssue({ code: 'custom', message: 'is not a cursor this API gave (use nextCursor as returned)' });
      return z.NEVER;
    }
    return Number(match[1]);
  });

const AuditQuery = rangeInOrder(
  queryParams({
    principal: queryText(300).optional(),
    commandType: queryText(200).optional(),
    outcome: z.enum(['accepted', 'refused'], { message: 'must be accepted or refused' }).optional(),
    streamPrefix: queryText(500).optional(),
    from: queryInstant.optional(),
    to: queryInstant.optional(),
    limit: queryLimit(500, 100),
    cursor: auditCursor.optional(),
    tenant: queryText(63).optional(),
  }),
);

const AuditEntryView = z.object({
  id: z.string(),
  tenant: z.string(),
  seq: z.number().int(),
  at: z.string(),
  principal: z.string(),
  keyId: z.string().nullable(),
  commandType: z.string(),
  commandId: z.string(),
  stream: z.string().nullable(),
  outcome: z.enum(['accepted', 'refused']),
  reason: z.string().nullable(),
  requestId: z.string().nullable(),
  source: z.string().nullable(),
  prevHash: z.string(),
  hash: z.string(),
});

const ChainReportView = z.object({
  tenant: z.string(),
  ok: z.boolean(),
  entries: z.number().int(),
  broken: z.object({ id: z.string(), seq: z.number().int(), reason: z.string() }).optional(),
});

const json = (schema: z.ZodType, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

const routes = {
  list: readRoute({
    method: 'get',
    path: '/audit',
    summary: "The tenant's audit trail: one entry per command, accepted or refused, newest first",
    request: { query: AuditQuery },
    responses: {
      200: json(
        z.object({ entries: z.array(AuditEntryView), nextCursor: z.string().nullable() }),
        'A page of entries',
      ),
      ...readErrors,
    },
  }),
  verify: readRoute({
    method: 'get',
    path: '/audit/verify',
    summary: "Checks the tenant's hash chain and names the first entry that breaks it",
    request: { query: queryParams({ tenant: queryText(63).optional() }) },
    responses: { 200: json(ChainReportView, 'ok, or the first broken entry and why'), ...readErrors },
  }),
};

/**
 * @example
 * app.route('/api', auditRoutes(db)); // GET /api/audit, GET /api/audit/verify
 */
export const auditRoutes = (readModels: SqlExecutor) => {
  const app = readRouter();
  app.openapi(routes.list, async (c) => {
    const { cursor, tenant: _, ...q } = c.req.valid('query');
    const entries = await listAuditEntries(readModels, {
      ...q,
      tenant: tenantOf(c),
      ...(cursor ? { beforeSeq: cursor } : {}),
    });
    const last = entries.length === q.limit ? entries[entries.length - 1] : undefined;
    return c.json({ entries, nextCursor: last && last.seq > 1 ? encodeAuditCursor(last.seq) : null }, 200);
  });
  app.openapi(routes.verify, async (c) => c.json(await verifyChain(readModels, tenantOf(c)), 200));
  return app;
};
