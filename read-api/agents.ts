/**
 * Agent discovery for dashboards and integrators:
 *
 *   GET /api/agents?q=<natural language>&skill=<skill id>&tags=a,b&limit=10&routable=false&tenant=
 *
 * At least one of `q`, `skill`, `tags`. Answers `{ agents: [...] }`, a FLAT list with one entry per
 * matching skill (an agent with two matching skills appears twice), best first: the discovery port's
 * Candidate fields (agentId, skillId, skillName, similarity, matchedBy, latencyMs, costPerRequest, quality,
 * status, circuit) plus `tenant` (the caller's, or 'system' for the hub's in-process agents),
 * `description` and `tags`. Scoped to the caller's tenant (or `tenant`, when the key may act for it) and
 * the system agents. `routable=true` leaves out disabled agents and agents whose circuit is not closed;
 * by default every registered agent is listed, with its status and circuit.
 * 401 without a valid key, 403 for a tenant the key may not act for, 400 with readable messages naming the
 * parameter (also for a NUL character or a lone surrogate in any of them), 503 when
 * the embeddings service (a configured OpenAI-compatible endpoint) fails.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { callerOf, type EdgeEnv } from '../a2a-edge/auth.ts';
import { A2AError } from '../a2a-edge/errors.ts';
import { describeZodIssues } from '../events/issues.ts';
import type { Discovery } from '../infra/discovery/port.ts';
import { EmbeddingsError } from '../infra/embeddings/port.ts';
import { MAX_LIMIT } from '../projections/discovery-search.ts';
import { queryParams, queryText } from './query-text.ts';

const Query = queryParams({
  q: queryText(1000).trim().optional(),
  skill: queryText(200).trim().optional(),
  tags: queryText(2200)
    .optional()
    .transform((v) =>
      (v ?? '')
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().max(100, 'a tag has at most 100 characters')).max(20, 'at most 20 tags')),
  limit: z.coerce
    .number({ message: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(MAX_LIMIT, `must be at most ${MAX_LIMIT}`)
    .default(10),
  routable: z.enum(['true', 'false'], { message: 'must be true or false' }).default('false'),
  tenant: queryText(63).optional(),
}).refine((v) => Boolean(v.q || v.skill || v.tags.length), {
  message: 'give at least one of q (a capability in words), skill (a skill id) or tags (comma-separated)',
});

const error = (code: number, status: string, message: string) => ({ error: { code, status, message } });

export const agentRoutes = (discovery: Discovery) => {
  const app = new Hono<EdgeEnv>();
  app.get('/agents', async (c) => {
    const parsed = Query.safeParse(c.req.query());
    let tenant: string;
    try {
      // 401 before 400: an anonymous caller learns nothing; 403 only for a well-formed tenant.
      tenant = callerOf(c, parsed.success ? parsed.data.tenant : undefined).tenant;
    } catch (err) {
      if (!(err instanceof A2AError)) throw err;
      return c.json(error(err.http, err.status, err.message), err.http as 401 | 403);
    }
    if (!parsed.success) {
      return c.json(error(400, 'INVALID_ARGUMENT', describeZodIssues(parsed.error.issues)), 400);
    }
    const { q, skill, tags, limit, routable } = parsed.data;
    try {
      const agents = await discovery.discover({
        tenant,
        text: q || undefined,
        skillId: skill || undefined,
        tags,
        limit,
        routableOnly: routable === 'true',
      });
      return c.json({ agents });
    } catch (err) {
      // The embeddings service (OpenAI-compatible endpoint) failing is not the caller's fault, nor ours.
      if (!(err instanceof EmbeddingsError)) throw err;
      return c.json(error(503, 'UNAVAILABLE', `agent discovery is unavailable: ${err.message}`), 503);
    }
  });
  return app;
};
