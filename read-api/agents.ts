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
import { z } from 'zod';
import type { Discovery } from '../infra/discovery/port.ts';
import { EmbeddingsError } from '../infra/embeddings/port.ts';
import { MAX_LIMIT } from '../projections/discovery-search.ts';
import { ApiError, apiError, readErrors, readRoute, readRouter, tenantOf } from './openapi.ts';
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

const Candidate = z.object({
  agentId: z.string(),
  skillId: z.string(),
  skillName: z.string(),
  similarity: z.number(),
  matchedBy: z.array(z.enum(['skill-id', 'tag', 'semantic'])),
  latencyMs: z.number().nullable(),
  costPerRequest: z.number(),
  quality: z.number(),
  status: z.enum(['active', 'disabled']),
  circuit: z.enum(['closed', 'open', 'half-open']),
  tenant: z.string().optional(),
  description: z.string().optional(),
  tags: z.array(z.string()).optional(),
});

const route = readRoute({
  method: 'get',
  path: '/agents',
  summary: 'Agents that can do something, best first (hybrid discovery: words, skill id, tags)',
  request: { query: Query },
  responses: {
    200: {
      description: 'One entry per matching skill',
      content: { 'application/json': { schema: z.object({ agents: z.array(Candidate) }) } },
    },
    ...readErrors,
    503: {
      description: 'The embeddings service failed',
      content: { 'application/json': { schema: ApiError } },
    },
  },
});

export const agentRoutes = (discovery: Discovery) => {
  const app = readRouter();
  app.openapi(route, async (c) => {
    const { q, skill, tags, limit, routable } = c.req.valid('query');
    try {
      const agents = await discovery.discover({
        tenant: tenantOf(c),
        text: q || undefined,
        skillId: skill || undefined,
        tags,
        limit,
        routableOnly: routable === 'true',
      });
      return c.json({ agents }, 200);
    } catch (err) {
      // The embeddings service (OpenAI-compatible endpoint) failing is not the caller's fault, nor ours.
      if (!(err instanceof EmbeddingsError)) throw err;
      return c.json(apiError(503, 'UNAVAILABLE', `agent discovery is unavailable: ${err.message}`), 503);
    }
  });
  return app;
};
