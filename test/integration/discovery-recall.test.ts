/**
 * Recall of agent discovery on a labelled set written by hand: test/fixtures/skills.json (70 synthetic
 * agents, 203 skills) and test/fixtures/queries.json (201 natural-language queries, each labelled with the
 * skills that answer it). The agents are registered as events, the discovery projection builds the read
 * model on PGlite + pgvector with the offline embeddings, and every query runs three ways:
 *
 * - exact-only: what a keyword router could do with the port's exact search. The query's words
 *   (lower-cased, stop words dropped, also in singular form) and its adjacent word pairs joined by '-'
 *   ("sales tax" -> "sales-tax") are matched as tags (ranked by how many match) and as skill ids
 *   (unigrams to trigrams joined by '-', ranked first);
 * - semantic-only: the text alone;
 * - hybrid: the text plus the same tags, both searches merged (what GET /api/agents?q=&tags= does).
 *
 * recall@5 of a query = |relevant in the top 5| / min(|relevant|, 5), averaged over the queries.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type AgentSkillInfo, agentStream } from '../../events/agent.ts';
import { createOfflineEmbeddings } from '../../infra/embeddings/offline.ts';
import { createPgliteEventStore } from '../../infra/event-store/pglite.ts';
import { pgliteDatabase } from '../../infra/sql/pglite.ts';
import { discoveryProjection } from '../../projections/discovery.ts';
import { createDiscovery, ensureVectorExtension } from '../../projections/discovery-search.ts';
import { catchUp, migrateProjection } from '../../projections/runner.ts';

interface FixtureAgent {
  id: string;
  name: string;
  description: string;
  skills: AgentSkillInfo[];
}
const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8'));
const { agents } = fixture('skills.json') as { agents: FixtureAgent[] };
const { queries } = fixture('queries.json') as { queries: Array<{ query: string; relevant: string[] }> };

const TENANT = 'acme';
const K = 5;

const STOP_WORDS = new Set(
  `a an the and or but if of to in on at by for with from into onto about as is are was were be been being
   am do does did doing have has had i me my we our us you your he she it its they them their this that these
   those what which who whom whose when where why how all any each some no not can could should would will
   shall may might must there here than then so too very just also out up down over under again once only
   own same few more most other such s t don now get got let make please want need`.split(/\s+/),
);

/** Words of a query, as an exact-only search could use them. */
const words = (query: string) => query.toLowerCase().match(/[a-z0-9]+(?:[-'][a-z0-9]+)*/g) ?? [];
const singular = (w: string) => (w.length > 3 && w.endsWith('s') && !w.endsWith('ss') ? w.slice(0, -1) : w);
const exactTerms = (query: string) => {
  const all = words(query);
  const kept = all.filter((w) => !STOP_WORDS.has(w));
  const ngrams = (n: number) => all.slice(0, all.length - n + 1).map((_, i) => all.slice(i, i + n).join('-'));
  const tags = [...new Set([...kept, ...kept.map(singular), ...ngrams(2)])];
  const ids = [...new Set([...kept, ...kept.map(singular), ...ngrams(2), ...ngrams(3)])];
  return { tags, ids };
};

const recallAt = (found: string[], relevant: string[]) =>
  relevant.filter((id) => found.slice(0, K).includes(id)).length / Math.min(relevant.length, K);

test('hybrid discovery beats exact-only recall@5 on the labelled set', async () => {
  assert.ok(agents.length >= 60, 'at least 60 agents');
  const skillCount = agents.reduce((n, a) => n + a.skills.length, 0);
  assert.ok(skillCount >= 200, 'at least 200 skills');
  assert.ok(queries.length >= 100, 'at least 100 queries');

  const pglite = await PGlite.create({ extensions: { vector } });
  const db = pgliteDatabase(pglite);
  try {
    const store = await createPgliteEventStore({ db: pglite });
    const vectorSchema = await ensureVectorExtension(db);
    const embeddings = createOfflineEmbeddings();
    const projection = discoveryProjection(embeddings, { vectorSchema });
    await migrateProjection(db, projection);
    for (const agent of agents) {
      await store.append(agentStream(TENANT, agent.id), [
        {
          id: randomUUID(),
          type: 'AgentRegistered',
          data: {
            agentId: agent.id,
            name: agent.name,
            description: agent.description,
            endpoint: { kind: 'in-process' },
            skills: agent.skills,
            costPerRequest: 0,
            at: '2026-01-01T00:00:00.000Z',
          },
          metadata: { tenant: TENANT, principal: 'test', correlationId: 'recall', causationId: null },
        },
      ]);
    }
    const started = performance.now();
    await catchUp(db, store, projection);
    const [rows] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM rm_agent_skills');
    assert.is(rows!.n, skillCount);
    console.log(
      `  projected ${skillCount} skills of ${agents.length} agents in ${(performance.now() - started).toFixed(0)} ms`,
    );

    const discovery = createDiscovery({ db, embeddings, vectorSchema });
    const exactOnly = async (query: string) => {
      const { tags, ids } = exactTerms(query);
      const byId = (
        await Promise.all(ids.map((skillId) => discovery.discover({ tenant: TENANT, skillId, limit: K })))
      ).flat();
      const byTag = await discovery.discover({ tenant: TENANT, tags, limit: K });
      return [...new Set([...byId, ...byTag].map((c) => c.skillId))];
    };
    const semanticOnly = async (query: string) =>
      (await discovery.discover({ tenant: TENANT, text: query, limit: K })).map((c) => c.skillId);
    const hybrid = async (query: string) =>
      (await discovery.discover({ tenant: TENANT, text: query, tags: exactTerms(query).tags, limit: K })).map(
        (c) => c.skillId,
      );

    const totals = { exact: 0, semantic: 0, hybrid: 0 };
    const hits = { exact: 0, semantic: 0, hybrid: 0 };
    const misses: string[] = [];
    const timings: number[] = [];
    for (const { query, relevant } of queries) {
      const t = performance.now();
      const h = await hybrid(query);
      timings.push(performance.now() - t);
      const results = { exact: await exactOnly(query), semantic: await semanticOnly(query), hybrid: h };
      for (const k of ['exact', 'semantic', 'hybrid'] as const) {
        const r = recallAt(results[k], relevant);
        totals[k] += r;
        if (r > 0) hits[k]++;
      }
      if (recallAt(h, relevant) === 0)
        misses.push(`"${query}" wanted ${relevant.join(', ')}, got ${h.join(', ')}`);
    }
    const n = queries.length;
    const recall = {
      exact: totals.exact / n,
      semantic: totals.semantic / n,
      hybrid: totals.hybrid / n,
    };
    timings.sort((a, b) => a - b);
    console.log(`  ${n} queries over ${skillCount} skills (${agents.length} agents), recall@${K}:`);
    for (const k of ['exact', 'semantic', 'hybrid'] as const) {
      console.log(
        `    ${`${k}${k === 'hybrid' ? ' (text + tags)' : k === 'exact' ? '-only (ids, tags)' : '-only (text)'}`.padEnd(26)} ${recall[k].toFixed(3)}   (at least one relevant in the top ${K}: ${hits[k]}/${n})`,
      );
    }
    console.log(
      `  hybrid query latency on PGlite: p50 ${timings[Math.floor(n / 2)]!.toFixed(1)} ms, p95 ${timings[Math.floor(n * 0.95)]!.toFixed(1)} ms (embedding included)`,
    );
    console.log(`  hybrid misses (${misses.length}):\n    ${misses.slice(0, 40).join('\n    ')}`);
    assert.ok(recall.hybrid >= 0.6, `hybrid recall@5 ${recall.hybrid.toFixed(3)} >= 0.6`);
    assert.ok(
      recall.hybrid >= recall.exact + 0.2,
      `hybrid recall@5 ${recall.hybrid.toFixed(3)} beats exact-only ${recall.exact.toFixed(3)} by at least 0.2`,
    );
    assert.ok(recall.hybrid >= recall.semantic, 'adding the exact search never costs recall here');
  } finally {
    await pglite.close();
  }
});

test.run();
