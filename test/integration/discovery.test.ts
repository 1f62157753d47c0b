/**
 * Discovery read model and hybrid discovery, on PGlite (+ pglite-pgvector) and on PostgreSQL (+ pgvector,
 * in a schema of its own whose search_path does NOT include the extension's schema, as the distributed
 * hub runs): agent events appended to a store, the projection builds `rm_agent_skills`, discovery by skill
 * id, tag and paraphrase, merging, routability, tenancy, card refreshes, health events, rebuild; then
 * GET /api/agents through an embedded hub.
 */
import { randomUUID } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { Hono } from 'hono';
import postgres from 'postgres';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { EdgeEnv } from '../../a2a-edge/auth.ts';
import { type AgentSkillInfo, agentStream, SYSTEM_TENANT } from '../../events/agent.ts';
import { createOfflineEmbeddings } from '../../infra/embeddings/offline.ts';
import type { Embeddings } from '../../infra/embeddings/port.ts';
import { EmbeddingsError } from '../../infra/embeddings/port.ts';
import { createPgliteEventStore } from '../../infra/event-store/pglite.ts';
import type { EventStore } from '../../infra/event-store/port.ts';
import { createPostgresEventStore } from '../../infra/event-store/postgres.ts';
import { quoteIdent } from '../../infra/event-store/sql.ts';
import { pgliteDatabase } from '../../infra/sql/pglite.ts';
import type { SqlDatabase } from '../../infra/sql/port.ts';
import { postgresDatabase } from '../../infra/sql/postgres.ts';
import { discoveryProjection } from '../../projections/discovery.ts';
import {
  createDiscovery,
  type DiscoveredSkill,
  ensureVectorExtension,
} from '../../projections/discovery-search.ts';
import type { Projection } from '../../projections/projection.ts';
import { catchUp, migrateProjection, rebuild } from '../../projections/runner.ts';
import { agentRoutes } from '../../read-api/agents.ts';
import { startHub, type TestHub } from '../support/hub.ts';
import { startOpenAIStub } from '../support/openai-stub.ts';
import { DATABASE_URL, requireService, uniqueName } from '../support/services.ts';

// Before any suite runs: uvu starts running queued suites at the first await after a run().
const pgUp = await requireService('pgvector');
const offline = createOfflineEmbeddings();
/** The offline model, counting its calls and texts. */
const counted = () => {
  const calls: string[][] = [];
  const embeddings: Embeddings = {
    dimensions: offline.dimensions,
    model: offline.model,
    embed: (texts) => {
      calls.push(texts);
      return offline.embed(texts);
    },
  };
  return { embeddings, calls };
};

const at = '2026-01-01T00:00:00.000Z';
const skill = (id: string, name: string, description: string, tags: string[] = []): AgentSkillInfo => ({
  id,
  name,
  description,
  tags,
});

const translator = [
  skill(
    'translate-document',
    'Document translation',
    'Translates documents between languages, keeping formatting.',
    ['Translation', 'Languages'],
  ),
  skill('summarise', 'Summarisation', 'Summarises long reports into a few key points.', ['summarization']),
];
const weather = [
  skill('forecast', 'Weather forecast', 'Hourly and 10-day weather forecasts for any city.', ['weather']),
  skill('storm-alerts', 'Storm alerts', 'Warns about storms, floods and heatwaves near your sites.', [
    'weather',
    'alerts',
  ]),
];
const invoices = [
  skill(
    'invoice-extraction',
    'Invoice data extraction',
    'Reads supplier invoices and extracts totals, tax and due dates.',
    ['finance', 'ocr'],
  ),
];

interface Fixture {
  db: SqlDatabase;
  store: EventStore;
  vectorSchema: string;
  cleanup(): Promise<void>;
}

const discoverySuite = (name: string, available: boolean, make: () => Promise<Fixture>) => {
  const s = suite(`discovery on ${name}`);
  if (!available) {
    s.skip('discovery tests (service unreachable)', () => {});
    return s.run();
  }
  let f: Fixture;
  let projection: Projection;
  let calls: string[][];
  let discovery: ReturnType<typeof createDiscovery>;
  /** The same, forced through the HNSW index (by default a set this small is scanned exactly). */
  let viaIndex: ReturnType<typeof createDiscovery>;

  let lastPosition = 0;
  const append = async (tenant: string, stream: string, type: string, data: unknown) => {
    const { positions } = await f.store.append(stream, [
      {
        id: randomUUID(),
        type,
        data,
        metadata: { tenant, principal: 'test', correlationId: randomUUID(), causationId: null },
      },
    ]);
    lastPosition = positions[0]!;
  };
  const register = (tenant: string, agentId: string, skills: AgentSkillInfo[], costPerRequest = 0) =>
    append(tenant, agentStream(tenant, agentId), 'AgentRegistered', {
      agentId,
      name: agentId,
      description: `${agentId} agent`,
      endpoint: { kind: 'in-process' },
      skills,
      costPerRequest,
      at,
    });
  /**
   * Until the projection has applied the last event appended. On PostgreSQL an event becomes readable
   * once every transaction that started before it has ended (the store's ordering rule), so a catch-up
   * right after an append can miss it while other sessions' transactions are open.
   */
  const project = async () => {
    for (let i = 0; i < 500; i++) {
      await catchUp(f.db, f.store, projection);
      const [row] = await f.db.query<{ position: string }>(
        'SELECT position FROM projection_checkpoints WHERE name = $1',
        [projection.name],
      );
      if (Number(row?.position) >= lastPosition) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`the projection did not reach position ${lastPosition}`);
  };
  const ids = (cs: DiscoveredSkill[]) => cs.map((c) => `${c.agentId}/${c.skillId}`);
  const dump = async () => ({
    skills: await f.db.query(
      `SELECT tenant, agent_id, skill_id, agent_key, skill_name, description, tags, embedding_text,
         embedding::text AS embedding, status, circuit, latency_ms, cost_per_request, quality
       FROM rm_agent_skills ORDER BY tenant, agent_id, skill_id`,
    ),
    agents: await f.db.query('SELECT * FROM rm_discovery_agents ORDER BY agent_key'),
  });

  s.before.each(async () => {
    f = await make();
    const c = counted();
    calls = c.calls;
    projection = discoveryProjection(c.embeddings, { vectorSchema: f.vectorSchema });
    await migrateProjection(f.db, projection);
    discovery = createDiscovery({ db: f.db, embeddings: c.embeddings, vectorSchema: f.vectorSchema });
    viaIndex = createDiscovery({
      db: f.db,
      embeddings: c.embeddings,
      vectorSchema: f.vectorSchema,
      exactScanMax: 0,
    });
    await register('acme', 'translator', translator, 0.02);
    await register('acme', 'weather', weather);
    await register('globex', 'invoices', invoices);
    await register(SYSTEM_TENANT, 'echo', [
      skill('echo', 'Echo', 'Repeats the message it receives back to the sender.', ['echo']),
    ]);
    await project();
  });
  s.after.each(async () => f.cleanup());

  s('the projection builds one row per skill, embedding each agent in one call', async () => {
    const rows = await f.db.query<{
      tenant: string;
      agent_id: string;
      skill_id: string;
      tags: string[];
      cost_per_request: number;
      quality: number;
      status: string;
      circuit: string;
      latency_ms: number | null;
      dims: number;
    }>(
      `SELECT tenant, agent_id, skill_id, tags, cost_per_request, quality, status, circuit, latency_ms,
         ${quoteIdent(f.vectorSchema)}.vector_dims(embedding) AS dims
       FROM rm_agent_skills ORDER BY tenant, agent_id, skill_id`,
    );
    assert.equal(
      rows.map((r) => `${r.tenant}/${r.agent_id}/${r.skill_id}`),
      [
        'acme/translator/summarise',
        'acme/translator/translate-document',
        'acme/weather/forecast',
        'acme/weather/storm-alerts',
        'globex/invoices/invoice-extraction',
        'system/echo/echo',
      ],
    );
    const translate = rows.find((r) => r.skill_id === 'translate-document')!;
    assert.equal(translate.tags, ['translation', 'languages'], 'tags are lower-cased');
    assert.is(Number(translate.cost_per_request), 0.02);
    assert.is(Number(translate.quality), 0.5);
    assert.is(translate.status, 'active');
    assert.is(translate.circuit, 'closed');
    assert.is(translate.latency_ms, null);
    assert.ok(rows.every((r) => Number(r.dims) === 512));
    assert.equal(
      calls.map((c) => c.length),
      [2, 2, 1, 1],
      'one embed call per agent',
    );
  });

  s('exact by skill id, by tag; semantic by paraphrase', async () => {
    const byId = await discovery.discover({ tenant: 'acme', skillId: 'forecast' });
    assert.equal(ids(byId), ['weather/forecast']);
    assert.is(byId[0]!.similarity, 1, 'an exact id match without text has similarity 1');
    assert.equal(byId[0]!.matchedBy, ['skill-id']);

    const byTag = await discovery.discover({ tenant: 'acme', tags: ['WEATHER', 'alerts'] });
    assert.equal(ids(byTag), ['weather/storm-alerts', 'weather/forecast'], 'more matching tags first');
    assert.ok(byTag.every((c) => c.similarity === 0 && c.matchedBy.join() === 'tag'));

    const paraphrase = await discovery.discover({
      tenant: 'acme',
      text: 'turn my letter into Spanish',
      limit: 3,
    });
    assert.is(ids(paraphrase)[0], 'translator/translate-document');
    assert.equal(paraphrase[0]!.matchedBy, ['semantic']);
    assert.ok(paraphrase[0]!.similarity > 0.3 && paraphrase[0]!.similarity <= 1);
    for (let i = 1; i < paraphrase.length; i++)
      assert.ok(paraphrase[i - 1]!.similarity >= paraphrase[i]!.similarity);
    const indexed = await viaIndex.discover({
      tenant: 'acme',
      text: 'turn my letter into Spanish',
      limit: 3,
    });
    assert.equal(ids(indexed), ids(paraphrase), 'the HNSW search finds what the exact scan finds');
    assert.is(paraphrase[0]!.costPerRequest, 0.02);
    assert.is(paraphrase[0]!.quality, 0.5);
    assert.is(paraphrase[0]!.latencyMs, null);
  });

  s('an exact and semantic hit appears once, with both matchedBy', async () => {
    const found = await discovery.discover({
      tenant: 'acme',
      text: 'will it rain tomorrow in Paris',
      tags: ['weather'],
      skillId: 'forecast',
      limit: 10,
    });
    const forecast = found.filter((c) => c.skillId === 'forecast');
    assert.is(forecast.length, 1, 'merged, not duplicated');
    assert.equal(forecast[0]!.matchedBy, ['skill-id', 'tag', 'semantic']);
    assert.ok(forecast[0]!.similarity < 1, 'with a text, the similarity is the cosine');
    assert.is(found[0]!.skillId, 'forecast');
    assert.is(new Set(ids(found)).size, found.length);
    // An exact hit outside the semantic top-k still gets its cosine.
    const narrow = await discovery.discover({
      tenant: 'acme',
      text: 'translate a contract',
      tags: ['alerts'],
      limit: 1,
    });
    const full = await discovery.discover({ tenant: 'acme', text: 'translate a contract', limit: 10 });
    const alerts = full.find((c) => c.skillId === 'storm-alerts')!;
    const merged = await discovery.discover({
      tenant: 'acme',
      text: 'translate a contract',
      tags: ['alerts'],
      limit: 10,
    });
    assert.ok(
      Math.abs(merged.find((c) => c.skillId === 'storm-alerts')!.similarity - alerts.similarity) < 1e-6,
    );
    assert.is(narrow.length, 1);
    assert.is(narrow[0]!.skillId, 'translate-document', 'sorted by similarity, then exactness');
  });

  s('disabled agents and open circuits are not routable; health events update the rows', async () => {
    await append('acme', agentStream('acme', 'weather'), 'AgentDisabled', { reason: 'maintenance', at });
    await project();
    assert.equal(ids(await discovery.discover({ tenant: 'acme', tags: ['weather'] })), []);
    for (const d of [discovery, viaIndex]) {
      const semantic = await d.discover({ tenant: 'acme', text: 'weather forecast for Paris', limit: 10 });
      assert.not.ok(
        ids(semantic).some((id) => id.startsWith('weather/')),
        'filtered in SQL, both plans',
      );
    }
    const all = await discovery.discover({ tenant: 'acme', tags: ['weather'], routableOnly: false });
    assert.equal(
      all.map((c) => c.status),
      ['disabled', 'disabled'],
    );
    await append('acme', agentStream('acme', 'weather'), 'AgentEnabled', { at });
    // Circuit events on `circuit-<agent key>` (events/circuit.ts); call outcomes carry the agent key.
    await append('acme', 'circuit-acme:weather', 'CircuitOpened', {
      agentKey: 'acme:weather',
      until: at,
      failures: 3,
      reason: 'timeouts',
      callId: 'c1',
      at,
    });
    await project();
    assert.equal(ids(await discovery.discover({ tenant: 'acme', tags: ['weather'] })), []);
    const open = await discovery.discover({ tenant: 'acme', skillId: 'forecast', routableOnly: false });
    assert.is(open[0]!.circuit, 'open');
    assert.is(open[0]!.status, 'active');
    await append('acme', 'circuit-acme:weather', 'CircuitHalfOpened', { agentKey: 'acme:weather', at });
    await project();
    assert.equal(
      ids(await discovery.discover({ tenant: 'acme', tags: ['weather'] })),
      [],
      'half-open: probes only',
    );
    await append('acme', 'circuit-acme:weather', 'CircuitClosed', {
      agentKey: 'acme:weather',
      callId: 'c2',
      at,
    });
    for (const [ok, outcome, latencyMs] of [
      [true, 'completed', 100],
      [true, 'completed', 200],
      [false, 'timeout', 5000],
      [false, 'canceled', 10], // neutral: says nothing about the agent
    ] as const) {
      await append('acme', 'task-1', 'RemoteCallCompleted', {
        callId: randomUUID(),
        agentKey: 'acme:weather',
        ok,
        outcome,
        latencyMs,
        at,
      });
    }
    await project();
    const back = await discovery.discover({ tenant: 'acme', skillId: 'forecast' });
    assert.is(back.length, 1);
    assert.is(back[0]!.circuit, 'closed');
    assert.is(back[0]!.latencyMs, 120, 'moving average of successful calls: 100, then 100 + 0.2 x 100');
    assert.is(back[0]!.quality, 3 / 5, '(2 ok + 1) / (3 calls + 2)');
  });

  s("another tenant's agents are invisible; system agents are visible to all", async () => {
    const acme = await discovery.discover({
      tenant: 'acme',
      text: 'read totals from supplier invoices',
      limit: 10,
    });
    assert.not.ok(ids(acme).includes('invoices/invoice-extraction'));
    assert.ok(ids(acme).includes('echo/echo'));
    const indexed = await viaIndex.discover({
      tenant: 'acme',
      text: 'read totals from supplier invoices',
      limit: 10,
    });
    assert.equal(ids(indexed).sort(), ids(acme).sort());
    const globex = await discovery.discover({
      tenant: 'globex',
      text: 'read totals from supplier invoices',
      limit: 10,
    });
    assert.is(ids(globex)[0], 'invoices/invoice-extraction');
    assert.equal(ids(globex).sort(), ['echo/echo', 'invoices/invoice-extraction']);
    assert.equal(ids(await discovery.discover({ tenant: 'globex', skillId: 'forecast' })), []);
    const echo = await discovery.discover({ tenant: 'globex', skillId: 'echo' });
    assert.is(echo[0]!.tenant, SYSTEM_TENANT);
    assert.equal(ids(await discovery.discover({ tenant: SYSTEM_TENANT, tags: ['weather', 'echo'] })), [
      'echo/echo',
    ]);
  });

  s(
    'a card refresh replaces skills, re-embedding only the changed ones; updates and deregistration',
    async () => {
      calls.length = 0;
      await append('acme', agentStream('acme', 'translator'), 'AgentCardRefreshed', {
        name: 'translator',
        description: 'translator agent',
        endpoint: { kind: 'in-process' },
        skills: [
          translator[0]!,
          skill('proofread', 'Proofreading', 'Fixes spelling and grammar mistakes in a text.', ['writing']),
        ],
        card: { name: 'translator', version: '2' },
        validators: { maxAgeSeconds: 60, fetchedAt: at },
        at,
      });
      await append('acme', agentStream('acme', 'translator'), 'AgentUpdated', { costPerRequest: 0.5, at });
      await project();
      assert.equal(calls, [['Proofreading. Fixes spelling and grammar mistakes in a text. writing.']]);
      const skills = await discovery.discover({
        tenant: 'acme',
        text: 'correct the typos in my essay',
        limit: 10,
      });
      assert.is(ids(skills)[0], 'translator/proofread');
      assert.not.ok(ids(skills).includes('translator/summarise'));
      assert.ok(skills.filter((c) => c.agentId === 'translator').every((c) => c.costPerRequest === 0.5));

      await append('acme', agentStream('acme', 'translator'), 'AgentDeregistered', { at });
      await project();
      assert.not.ok(
        ids(
          await discovery.discover({ tenant: 'acme', text: 'translate', limit: 10, routableOnly: false }),
        ).some((id) => id.startsWith('translator/')),
      );
      // Registered again: back with its new card, its cost from the new registration.
      await register('acme', 'translator', [translator[1]!], 0.1);
      await project();
      const again = await discovery.discover({ tenant: 'acme', skillId: 'summarise' });
      assert.equal(ids(again), ['translator/summarise']);
      assert.is(again[0]!.costPerRequest, 0.1);
    },
  );

  s('a rebuild equals the live read model', async () => {
    await append('acme', agentStream('acme', 'weather'), 'AgentDisabled', { reason: 'x', at });
    await append('acme', 'circuit-acme:translator', 'CircuitOpened', {
      agentKey: 'acme:translator',
      until: at,
      failures: 1,
      reason: 'x',
      callId: 'c',
      at,
    });
    await append('acme', 'task-2', 'RemoteCallCompleted', {
      callId: 'c3',
      agentKey: 'acme:translator',
      ok: true,
      outcome: 'completed',
      latencyMs: 42,
      at,
    });
    await append('acme', agentStream('acme', 'translator'), 'AgentCardRefreshed', {
      name: 'translator',
      description: 'translator agent',
      endpoint: { kind: 'in-process' },
      skills: [translator[1]!],
      card: { name: 'translator', version: '3' },
      validators: { maxAgeSeconds: 60, fetchedAt: at },
      at,
    });
    await append('globex', agentStream('globex', 'invoices'), 'AgentDeregistered', { at });
    await project();
    const live = await dump();
    assert.is(live.skills.length, 4);
    const replayed = await rebuild(f.db, f.store, projection);
    assert.ok(replayed >= 9);
    assert.equal(await dump(), live);
  });

  s.run();
};

discoverySuite('PGlite', true, async () => {
  const pglite = await PGlite.create({ extensions: { vector } });
  const db = pgliteDatabase(pglite);
  const vectorSchema = await ensureVectorExtension(db);
  const store = await createPgliteEventStore({ db: pglite });
  return { db, store, vectorSchema, cleanup: () => pglite.close() };
});

discoverySuite('PostgreSQL', pgUp, async () => {
  const schema = uniqueName('disc');
  const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE SCHEMA ${schema}`);
  // Only the test's schema on the search_path: the vector type is found through its schema.
  const sql = postgres(DATABASE_URL, { max: 4, onnotice: () => {}, connection: { search_path: schema } });
  const db = postgresDatabase(sql);
  const vectorSchema = await ensureVectorExtension(db);
  const store = await createPostgresEventStore({ sql, schema });
  return {
    db,
    store,
    vectorSchema,
    cleanup: async () => {
      await store.close();
      await sql.end();
      await admin.unsafe(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
    },
  };
});

// ---- the read API -----------------------------------------------------------------------------------------

const api = suite('GET /api/agents (embedded hub)');
let hub: TestHub;
let otherKey: string;
api.before(async () => {
  hub = await startHub('embedded');
  otherKey = await hub.addTenant('other');
  const append = (tenant: string, agentId: string, skills: AgentSkillInfo[]) =>
    hub.runtime.store.append(agentStream(tenant, agentId), [
      {
        id: randomUUID(),
        type: 'AgentRegistered',
        data: { agentId, name: agentId, description: '', endpoint: { kind: 'in-process' }, skills, at },
        metadata: { tenant, principal: 'test', correlationId: 'c', causationId: null },
      },
    ]);
  await append('default', 'weather', weather);
  await append('other', 'invoices', invoices);
});
api.after(async () => hub.stop());

const get = async (query: string, key: string | null = hub.apiKey) => {
  const response = await fetch(`${hub.url}/api/agents${query}`, { headers: key ? { 'X-API-Key': key } : {} });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

api('scoped to the tenant and the system agents; exact and semantic', async () => {
  // The projection runs in the background: wait for it.
  let agents: DiscoveredSkill[] = [];
  for (let i = 0; i < 100 && !agents.some((a) => a.agentId === 'weather'); i++) {
    const { status, body } = await get('?q=is+a+storm+coming+to+my+warehouse&limit=5');
    assert.is(status, 200);
    agents = body.agents as DiscoveredSkill[];
    if (!agents.some((a) => a.agentId === 'weather')) await new Promise((r) => setTimeout(r, 100));
  }
  assert.is(agents[0]!.skillId, 'storm-alerts');
  assert.equal(agents[0]!.matchedBy, ['semantic']);
  assert.is(agents[0]!.tenant, 'default');
  assert.ok(agents.length <= 5);
  assert.ok(agents.every((a) => a.tenant === 'default' || a.tenant === 'system'));

  const echo = await get('?q=repeat+my+words+back&skill=echo&limit=3');
  const hit = (echo.body.agents as DiscoveredSkill[]).filter((a) => a.skillId === 'echo');
  assert.ok(hit.length >= 1, 'the built-in echo skill is visible to every tenant');
  assert.ok(hit.every((a) => a.tenant === 'system' && a.matchedBy.includes('skill-id')));

  const byTags = await get('?tags=Weather,%20alerts');
  assert.equal(
    (byTags.body.agents as DiscoveredSkill[]).map((a) => a.skillId),
    ['storm-alerts', 'forecast'],
  );
  const mine = await get('?skill=invoice-extraction');
  assert.equal(mine.body, { agents: [] }, "another tenant's agent is invisible");
  let theirs: DiscoveredSkill[] = [];
  for (let i = 0; i < 50 && theirs.length === 0; i++) {
    theirs = (await get('?skill=invoice-extraction', otherKey)).body.agents as DiscoveredSkill[];
    if (theirs.length === 0) await new Promise((r) => setTimeout(r, 100));
  }
  assert.is(theirs[0]!.agentId, 'invoices');
});

api('401 without a key, 403 for a tenant the key may not act for, 400 with readable messages', async () => {
  const anonymous = await get('?q=weather', null);
  assert.is(anonymous.status, 401);
  assert.is((anonymous.body.error as { status: string }).status, 'UNAUTHENTICATED');
  assert.is((await get('?q=weather', 'not-a-key')).status, 401);
  assert.is((await get('?q=weather&tenant=other')).status, 403);

  const none = await get('');
  assert.is(none.status, 400);
  assert.match((none.body.error as { message: string }).message, 'give at least one of q');
  const bad = await get('?q=weather&limit=0&routable=maybe');
  assert.is(bad.status, 400);
  const message = (bad.body.error as { message: string }).message;
  assert.match(message, 'limit: must be at least 1');
  assert.match(message, 'routable: must be true or false');
  assert.is((await get('?q=weather&limit=abc')).status, 400);
  assert.is((await get(`?q=${'x'.repeat(1001)}`)).status, 400);
});

api('503 with a readable message when the embeddings service fails', async () => {
  const app = new Hono<EdgeEnv>();
  app.use('*', async (c, next) => {
    c.set('holder', { tenant: 'default', principal: 'test', actsFor: [] });
    await next();
  });
  app.route(
    '/api',
    agentRoutes({
      discover: async () => {
        throw new EmbeddingsError(
          'openai embeddings (model m at http://127.0.0.1:1/v1): request failed: ECONNREFUSED',
        );
      },
    }),
  );
  const response = await app.request('/api/agents?q=weather');
  assert.is(response.status, 503);
  const body = (await response.json()) as { error: { status: string; message: string } };
  assert.is(body.error.status, 'UNAVAILABLE');
  assert.match(body.error.message, 'ECONNREFUSED');
});

api.run();

// ---- the embeddings adapter from configuration ----------------------------------------------------------------

const configured = suite('a hub with OpenAI-compatible embeddings (AGENTCORE_EMBEDDINGS_*)');
configured('the read model is sized and filled by the configured model', async () => {
  const stub = await startOpenAIStub({ apiKey: 'sk-test', embeddingDimensions: 64 });
  const openaiHub = await startHub('embedded', {
    env: {
      AGENTCORE_EMBEDDINGS_URL: stub.baseURL,
      AGENTCORE_EMBEDDINGS_MODEL: 'stub-embed',
      AGENTCORE_EMBEDDINGS_KEY: 'sk-test',
      AGENTCORE_EMBEDDINGS_DIMENSIONS: '64',
    },
  });
  try {
    const { runtime } = openaiHub;
    assert.is(runtime.embeddings.model, 'stub-embed');
    assert.is(runtime.embeddings.dimensions, 64);
    await runtime.store.append(agentStream('default', 'weather'), [
      {
        id: randomUUID(),
        type: 'AgentRegistered',
        data: {
          agentId: 'weather',
          name: 'w',
          description: '',
          endpoint: { kind: 'in-process' },
          skills: weather,
          at,
        },
        metadata: { tenant: 'default', principal: 'test', correlationId: 'c', causationId: null },
      },
    ]);
    let found: DiscoveredSkill[] = [];
    for (let i = 0; i < 100 && found.length === 0; i++) {
      const response = await fetch(`${openaiHub.url}/api/agents?q=storms+floods+heatwaves&limit=1`, {
        headers: { 'X-API-Key': openaiHub.apiKey },
      });
      found = ((await response.json()) as { agents: DiscoveredSkill[] }).agents.filter(
        (a) => a.agentId === 'weather',
      );
      if (found.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    assert.is(found[0]?.skillId, 'storm-alerts', 'bag-of-words vectors: the skill sharing the words');
    const [dims] = await runtime.db.query<{ n: number }>(
      'SELECT DISTINCT vector_dims(embedding) AS n FROM rm_agent_skills',
    );
    assert.is(Number(dims!.n), 64);
    assert.ok(
      stub.requests.some(
        (r) => r.path === '/v1/embeddings' && (r.body as { model?: string }).model === 'stub-embed',
      ),
    );
  } finally {
    await openaiHub.stop();
    await stub.close();
  }
});
configured.run();
