import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import postgres from 'postgres';
import { createOfflineEmbeddings } from '../infra/embeddings/offline.ts';
import { cosine, type Embeddings } from '../infra/embeddings/port.ts';
import { quoteIdent } from '../infra/event-store/sql.ts';
import { pgliteDatabase } from '../infra/sql/pglite.ts';
import type { SqlDatabase } from '../infra/sql/port.ts';
import { postgresDatabase } from '../infra/sql/postgres.ts';
import { discoveryProjection, skillText } from '../projections/discovery.ts';
import { createDiscovery, ensureVectorExtension } from '../projections/discovery-search.ts';
import { migrateProjection } from '../projections/runner.ts';
import { syntheticAgentRegistered } from './synthetic.ts';

const sizes = process.argv.slice(2).map(Number).filter(Boolean);
const SIZES = sizes.length ? sizes : [1000, 10_000];
const QUERIES = Number(process.env.BENCH_QUERIES ?? 200);
const TARGETS = (process.env.BENCH_TARGETS ?? 'postgres,pglite').split(',');
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TENANT = 'bench';
const CACHE = '/tmp/agentcore-bench-embeddings';

// ---- synthetic agents ------------------------------------------------------------------------------------

/** mulberry32: a small seeded PRNG, so every run generates the same agents. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const actions: Array<[string, string]> = [
  ['Summarise', 'summarization'],
  ['Translate', 'translation'],
  ['Classify', 'classification'],
  ['Extract key fields from', 'extraction'],
  ['Review', 'review'],
  ['Draft', 'writing'],
  ['Monitor', 'monitoring'],
  ['Forecast trends in', 'forecasting'],
  ['Validate', 'validation'],
  ['Search through', 'search'],
  ['Answer questions about', 'qa'],
  ['Detect anomalies in', 'anomaly-detection'],
  ['Generate reports on', 'reporting'],
  ['Audit', 'audit'],
  ['Redact personal data from', 'privacy'],
  ['Route', 'routing'],
  ['Compare', 'comparison'],
  ['Visualise', 'visualization'],
  ['Proofread', 'proofreading'],
  ['Deduplicate', 'deduplication'],
  ['Score the risk of', 'risk'],
  ['Archive', 'archiving'],
];
const subjects: Array<[string, string]> = [
  ['supplier invoices', 'finance'],
  ['expense reports', 'finance'],
  ['bank statements', 'finance'],
  ['tax filings', 'tax'],
  ['payroll runs', 'hr'],
  ['job applications', 'hr'],
  ['employee surveys', 'hr'],
  ['commercial contracts', 'legal'],
  ['court filings', 'legal'],
  ['privacy policies', 'legal'],
  ['customer support tickets', 'support'],
  ['product reviews', 'ecommerce'],
  ['online orders', 'ecommerce'],
  ['product catalogues', 'ecommerce'],
  ['shipping manifests', 'logistics'],
  ['delivery routes', 'logistics'],
  ['customs declarations', 'logistics'],
  ['server logs', 'devops'],
  ['pull requests', 'code'],
  ['bug reports', 'code'],
  ['API specifications', 'code'],
  ['database schemas', 'data'],
  ['sales pipelines', 'sales'],
  ['marketing campaigns', 'marketing'],
  ['social media posts', 'marketing'],
  ['news articles', 'media'],
  ['podcast transcripts', 'media'],
  ['research papers', 'research'],
  ['patient records', 'healthcare'],
  ['clinical trial reports', 'healthcare'],
  ['insurance claims', 'insurance'],
  ['property listings', 'real-estate'],
  ['energy meter readings', 'energy'],
  ['sensor data from machines', 'manufacturing'],
  ['security alerts', 'security'],
  ['access logs', 'security'],
  ['meeting notes', 'productivity'],
  ['email threads', 'productivity'],
  ['travel bookings', 'travel'],
  ['weather data', 'weather'],
];
const qualifiers = [
  'for small businesses',
  'in real time',
  'in forty languages',
  'for enterprise teams',
  'with a human in the loop',
  'from scanned PDFs',
  'against company policy',
  'for compliance officers',
  'every night',
  'with a full audit trail',
  'sent by email',
  'at high volume',
];

interface SyntheticAgent {
  id: string;
  skills: Array<{ id: string; name: string; description: string; tags: string[] }>;
}

const generate = (count: number): SyntheticAgent[] => {
  const random = prng(42);
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
  return Array.from({ length: count }, (_, n) => {
    const skills = new Map<string, SyntheticAgent['skills'][number]>();
    const wanted = 1 + Math.floor(random() * 3);
    while (skills.size < wanted) {
      const [action, actionTag] = pick(actions);
      const [subject, domain] = pick(subjects);
      const qualifier = pick(qualifiers);
      // Ids like A2A cards have them: the same capability offered by several agents has the same id.
      const id = `${actionTag}-${subject.toLowerCase().replaceAll(' ', '-')}`;
      skills.set(id, {
        id,
        name: `${action} ${subject}`,
        description: `${action} ${subject} ${qualifier}.`,
        tags: [domain, actionTag, subject.split(' ').at(-1)!],
      });
    }
    return { id: `agent-${n}`, skills: [...skills.values()] };
  });
};

// ---- embeddings cache --------------------------------------------------------------------------------------

/** The offline model behind a file cache: texts in CACHE.json, float32 vectors in CACHE.f32 (same order). */
const cachedEmbeddings = (model: Embeddings) => {
  const index = new Map<string, number>();
  let vectors = new Float32Array(0);
  if (existsSync(`${CACHE}.json`) && existsSync(`${CACHE}.f32`)) {
    const texts = JSON.parse(readFileSync(`${CACHE}.json`, 'utf8')) as { model: string; texts: string[] };
    const buffer = readFileSync(`${CACHE}.f32`);
    if (texts.model === model.model && buffer.length === texts.texts.length * model.dimensions * 4) {
      vectors = new Float32Array(buffer.buffer, buffer.byteOffset, buffer.length / 4).slice();
      for (const [i, t] of texts.texts.entries()) index.set(t, i);
    }
  }
  const get = (text: string) => {
    const i = index.get(text)!;
    return Array.from(vectors.subarray(i * model.dimensions, (i + 1) * model.dimensions));
  };
  const save = () => {
    writeFileSync(`${CACHE}.json`, JSON.stringify({ model: model.model, texts: [...index.keys()] }));
    writeFileSync(`${CACHE}.f32`, Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength));
  };
  /** Embeds and caches the texts not cached yet, showing progress. */
  const fill = async (texts: string[]) => {
    const missing = [...new Set(texts)].filter((t) => !index.has(t));
    if (missing.length === 0) return;
    console.log(`embedding ${missing.length} new texts (cached in ${CACHE}.*) ...`);
    const started = performance.now();
    const grown = new Float32Array(vectors.length + missing.length * model.dimensions);
    grown.set(vectors);
    let at = index.size;
    for (let i = 0; i < missing.length; i += 64) {
      const batch = missing.slice(i, i + 64);
      const out = await model.embed(batch);
      out.forEach((v, j) => {
        grown.set(v, (at + j) * model.dimensions);
        index.set(batch[j]!, at + j);
      });
      at += batch.length;
      vectors = grown.subarray(0, at * model.dimensions);
      if ((i / 64) % 25 === 24 || i + 64 >= missing.length) {
        save();
        const s = (performance.now() - started) / 1000;
        console.log(`  ${Math.min(i + 64, missing.length)}/${missing.length} in ${s.toFixed(0)} s`);
      }
    }
    vectors = grown;
  };
  const embeddings: Embeddings = {
    dimensions: model.dimensions,
    model: model.model,
    embed: async (texts) => {
      await fill(texts);
      return texts.map(get);
    },
  };
  return { embeddings, fill, get };
};

// ---- measuring -----------------------------------------------------------------------------------------------

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;

const time = async (n: number, fn: (i: number) => Promise<unknown>) => {
  for (let i = 0; i < Math.min(20, n); i++) await fn(i); // warm-up
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  return { p50: percentile(ms, 50), p95: percentile(ms, 95) };
};

interface Target {
  name: string;
  open(): Promise<{ db: SqlDatabase; vectorSchema: string; close(): Promise<void> }>;
}

const targets: Target[] = [
  {
    name: 'PostgreSQL 15 + pgvector',
    async open() {
      const schema = `bench_discovery_${process.pid}`;
      const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
      await admin.unsafe(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
      await admin.unsafe(`CREATE SCHEMA ${quoteIdent(schema)}`);
      const sql = postgres(DATABASE_URL, { max: 4, onnotice: () => {}, connection: { search_path: schema } });
      const db = postgresDatabase(sql);
      return {
        db,
        vectorSchema: await ensureVectorExtension(db),
        async close() {
          await sql.end();
          await admin.unsafe(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
          await admin.end();
        },
      };
    },
  },
  {
    name: 'PGlite + pglite-pgvector',
    async open() {
      const pglite = await PGlite.create({ extensions: { vector } });
      const db = pgliteDatabase(pglite);
      return { db, vectorSchema: await ensureVectorExtension(db), close: () => pglite.close() };
    },
  },
].filter((t) => TARGETS.some((want) => t.name.toLowerCase().startsWith(want)));

const main = async () => {
  const offline = createOfflineEmbeddings();
  const cache = cachedEmbeddings(offline);
  const { queries: labelled } = JSON.parse(
    readFileSync(new URL('../test/fixtures/queries.json', import.meta.url), 'utf8'),
  ) as { queries: Array<{ query: string }> };
  const queryTexts = Array.from({ length: QUERIES }, (_, i) => labelled[i % labelled.length]!.query);
  const biggest = generate(Math.max(...SIZES));
  await cache.fill([
    ...biggest.flatMap((a) => a.skills.map((s) => skillText(s))),
    ...labelled.map((q) => q.query),
  ]);
  const queryVectors = new Map(labelled.map((q) => [q.query, cache.get(q.query)]));
  /** Query vectors precomputed, skill texts from the cache: the database's share of a query. */
  const precomputed: Embeddings = {
    ...cache.embeddings,
    embed: async (texts) => texts.map((t) => queryVectors.get(t) ?? cache.get(t)),
  };

  const rows: string[][] = [];
  for (const target of targets) {
    for (const size of SIZES) {
      const agents = biggest.slice(0, size);
      const skills = agents.reduce((n, a) => n + a.skills.length, 0);
      const { db, vectorSchema, close } = await target.open();
      try {
        const projection = discoveryProjection(cache.embeddings, { vectorSchema });
        await migrateProjection(db, projection);
        const loadStarted = performance.now();
        for (let i = 0; i < agents.length; i += 250) {
          await db.transaction(async (tx) => {
            for (const [k, agent] of agents.slice(i, i + 250).entries()) {
              const event = syntheticAgentRegistered(TENANT, agent, i + k + 1);
              await projection.apply(event, tx);
            }
          });
        }
        const loadSeconds = (performance.now() - loadStarted) / 1000;
        console.log(
          `${target.name}: ${size} agents (${skills} skills) loaded through the projection in ${loadSeconds.toFixed(1)} s`,
        );
        const live = createDiscovery({ db, embeddings: offline, vectorSchema });
        const sqlOnly = createDiscovery({ db, embeddings: precomputed, vectorSchema });
        const tagsOf = (i: number) => [
          actions[i % actions.length]![1],
          subjects[(i * 7) % subjects.length]![1],
        ];
        const semanticLive = await time(QUERIES, (i) =>
          live.discover({ tenant: TENANT, text: queryTexts[i]! }),
        );
        const semanticSql = await time(QUERIES, (i) =>
          sqlOnly.discover({ tenant: TENANT, text: queryTexts[i]! }),
        );
        const hybridSql = await time(QUERIES, (i) =>
          sqlOnly.discover({ tenant: TENANT, text: queryTexts[i]!, tags: tagsOf(i) }),
        );
        const tagsOnly = await time(QUERIES, (i) => sqlOnly.discover({ tenant: TENANT, tags: tagsOf(i) }));
        const idOnly = await time(QUERIES, (i) =>
          sqlOnly.discover({ tenant: TENANT, skillId: agents[(i * 7919) % agents.length]!.skills[0]!.id }),
        );

        const all = agents.flatMap((a) => a.skills.map((s) => ({ v: cache.get(skillText(s)) })));
        /**
         * The index's recall@10 against an exact cosine scan. Many skills share a text (the same capability
         * offered by several agents): scores are compared, not ids, so a tie resolved differently is no miss.
         */
        const recallOf = async (d: typeof sqlOnly) => {
          let found = 0;
          const sample = labelled.slice(0, 50);
          for (const { query } of sample) {
            const q = queryVectors.get(query)!;
            const exact = all
              .map((s) => cosine(q, s.v))
              .sort((a, b) => b - a)
              .slice(0, 10);
            const got = (await d.discover({ tenant: TENANT, text: query, limit: 10 })).map(
              (c) => c.similarity,
            );
            for (const score of exact) {
              const i = got.findIndex((g) => Math.abs(g - score) < 1e-5);
              if (i >= 0) {
                found++;
                got.splice(i, 1);
              }
            }
          }
          return found / (sample.length * 10);
        };
        const recall = await Promise.all(
          [40, 100, 200].map(async (efSearch) =>
            recallOf(createDiscovery({ db, embeddings: precomputed, vectorSchema, efSearch })),
          ),
        );
        const efHigh = createDiscovery({ db, embeddings: precomputed, vectorSchema, efSearch: 200 });
        const semanticEf200 = await time(QUERIES, (i) =>
          efHigh.discover({ tenant: TENANT, text: queryTexts[i]! }),
        );
        const f = (x: number) => x.toFixed(1);
        rows.push([
          target.name,
          String(size),
          String(skills),
          `${f(loadSeconds)} s`,
          `${f(semanticLive.p50)} / ${f(semanticLive.p95)}`,
          `${f(semanticSql.p50)} / ${f(semanticSql.p95)}`,
          `${f(hybridSql.p50)} / ${f(hybridSql.p95)}`,
          `${f(tagsOnly.p50)} / ${f(tagsOnly.p95)}`,
          `${f(idOnly.p50)} / ${f(idOnly.p95)}`,
          recall.map((r) => r.toFixed(3)).join(' / '),
          `${f(semanticEf200.p50)} / ${f(semanticEf200.p95)}`,
        ]);
      } finally {
        await close();
      }
    }
  }
  const header = [
    'target',
    'agents',
    'skills',
    'load',
    'text, query embedded p50/p95 ms',
    'text, SQL only p50/p95 ms',
    'text + 2 tags, SQL only p50/p95 ms',
    '2 tags p50/p95 ms',
    'skill id p50/p95 ms',
    'HNSW recall@10, ef_search 40 / 100 (default) / 200',
    'text, SQL only, ef_search 200 p50/p95 ms',
  ];
  const table = [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
  console.log(
    `\nDiscovery query latency, ${QUERIES} queries per cell (limit 10; tenant + system rows):\n\n${table}\n`,
  );
};

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
