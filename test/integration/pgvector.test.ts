/**
 * pgvector end to end: 500 skill descriptions embedded by the offline model, stored as vector(512) with an
 * HNSW cosine index, searched top-5 by a paraphrase. The same SQL on PostgreSQL 15 (the extension built
 * by infra/scripts/install-pgvector.sh) and on PGlite with @electric-sql/pglite-pgvector.
 */
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import pgvector from 'pgvector';
import postgres from 'postgres';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createOfflineEmbeddings } from '../../infra/embeddings/offline.ts';
import { cosine } from '../../infra/embeddings/port.ts';
import { quoteIdent } from '../../infra/event-store/sql.ts';
import { pgliteDatabase } from '../../infra/sql/pglite.ts';
import type { SqlDatabase } from '../../infra/sql/port.ts';
import { postgresDatabase } from '../../infra/sql/postgres.ts';
import { DATABASE_URL, requireService, uniqueName } from '../support/services.ts';

const actions = [
  'Summarise',
  'Translate',
  'Classify',
  'Extract key facts from',
  'Draft replies to',
  'Review',
  'Search through',
  'Schedule follow-ups for',
  'Monitor',
  'Forecast trends in',
  'Visualise',
  'Audit',
  'Tag',
  'Answer questions about',
  'Proofread',
  'Detect anomalies in',
  'Compare',
  'Generate',
  'Validate',
  'Archive',
];
const subjects = [
  'customer support tickets',
  'legal contracts',
  'medical records',
  'sales emails',
  'supplier invoices',
  'job applications',
  'source code',
  'news articles',
  'product reviews',
  'meeting notes',
  'financial statements',
  'research papers',
  'shipping manifests',
  'server logs',
  'social media posts',
  'insurance claims',
  'cooking recipes',
  'travel itineraries',
  'tax returns',
  'patient prescriptions',
  'marketing campaigns',
  'bug reports',
  'weather data',
  'real estate listings',
  'lecture transcripts',
];
const skills = actions.flatMap((a) => subjects.map((s) => `${a} ${s}`)); // 20 x 25 = 500

// Paraphrases that share (almost) no words with the skill they must find.
const searches = [
  { query: "turn a lawyer's agreement into another language", expected: 'Translate legal contracts' },
  { query: 'check the spelling in my recipes for dinner dishes', expected: 'Proofread cooking recipes' },
];

const embeddings = createOfflineEmbeddings();
const embedStarted = performance.now();
const vectors = await embeddings.embed(skills);
const queryVectors = await embeddings.embed(searches.map((s) => s.query));
console.log(
  `  embedded ${skills.length} skills + ${searches.length} queries in ${(performance.now() - embedStarted).toFixed(0)} ms`,
);

/** Exact top-5 by cosine, computed in JS: what the index must return. */
const exactTop5 = (q: number[]) =>
  vectors
    .map((v, i) => ({ id: i + 1, score: cosine(q, v) }))
    .sort((a, b) => b.score - a.score)
    .slice(0, 5)
    .map((r) => r.id);

const up = await requireService('pgvector');
const s = suite('pgvector: HNSW cosine search over offline embeddings');

/** Creates, fills, indexes and searches `skills` in `schema`; search_path already includes it. */
const scenario = async (db: SqlDatabase, label: string) => {
  await db.exec(`
    CREATE TABLE skills (id int PRIMARY KEY, text text NOT NULL, embedding vector(512) NOT NULL);
    CREATE INDEX skills_embedding_hnsw ON skills USING hnsw (embedding vector_cosine_ops);
  `);
  const insertStarted = performance.now();
  for (let from = 0; from < skills.length; from += 100) {
    const rows = skills.slice(from, from + 100);
    const values = rows.map((_, i) => `($${i * 3 + 1}, $${i * 3 + 2}, $${i * 3 + 3}::vector)`).join(', ');
    const params = rows.flatMap((text, i) => [from + i + 1, text, pgvector.toSql(vectors[from + i])]);
    await db.query(`INSERT INTO skills (id, text, embedding) VALUES ${values}`, params);
  }
  const insertMs = performance.now() - insertStarted;
  const [count] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM skills');
  assert.is(count!.n, 500);

  // A stored vector reads back as what went in (float32 precision).
  const [row] = await db.query<{ embedding: string }>(
    'SELECT embedding::text AS embedding FROM skills WHERE id = 1',
  );
  const back = pgvector.fromSql(row!.embedding) as number[];
  assert.is(back.length, 512);
  assert.ok(
    back.every((x, i) => Math.abs(x - vectors[0]![i]!) < 1e-6),
    'round trip through vector(512)',
  );

  for (const [n, { query, expected }] of searches.entries()) {
    const q = pgvector.toSql(queryVectors[n]);
    // The index, not a sequential scan (the planner prefers one for 500 rows): forced inside the transaction.
    const { plan, top, ms } = await db.transaction(async (tx) => {
      await tx.query('SET LOCAL enable_seqscan = off');
      await tx.query('SET LOCAL hnsw.ef_search = 100');
      const sql =
        'SELECT id, text, 1 - (embedding <=> $1::vector) AS score FROM skills ORDER BY embedding <=> $1::vector LIMIT 5';
      const explained = await tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, [q]);
      const started = performance.now();
      const rows = await tx.query<{ id: number; text: string; score: number }>(sql, [q]);
      return {
        plan: explained.map((r) => r['QUERY PLAN']).join('\n'),
        top: rows,
        ms: performance.now() - started,
      };
    });
    assert.match(plan, 'skills_embedding_hnsw', `the HNSW index is used:\n${plan}`);
    console.log(
      `  ${label}: "${query}" -> ${top.map((r) => `${r.text} (${Number(r.score).toFixed(3)})`).join(', ')}; ${ms.toFixed(1)} ms`,
    );
    assert.is(top.length, 5);
    assert.is(top[0]!.text, expected, `the expected skill ranks first for "${query}"`);
    assert.equal(
      top.map((r) => r.id),
      exactTop5(queryVectors[n]!),
      'the index returns the exact top 5',
    );
    assert.ok(Math.abs(Number(top[0]!.score) - cosine(queryVectors[n]!, vectors[top[0]!.id - 1]!)) < 1e-5);
  }
  console.log(`  ${label}: 500 rows inserted (index maintained) in ${insertMs.toFixed(0)} ms`);
};

/** The schema holding pgvector's type and operators: it must be on the search_path. */
const vectorSchema = async (db: SqlDatabase) => {
  const [ext] = await db.query<{ schema: string }>(
    "SELECT extnamespace::regnamespace::text AS schema FROM pg_extension WHERE extname = 'vector'",
  );
  return ext!.schema;
};

if (up) {
  s('PostgreSQL: vector(512), HNSW cosine, top-5 for a paraphrase', async () => {
    const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
    const schema = uniqueName('pgv');
    try {
      // Extensions are per database. Two test processes may race to create it: the loser sees it exists.
      await admin`CREATE EXTENSION IF NOT EXISTS vector`.catch(async (err: { code?: string }) => {
        if (err.code !== '23505' && err.code !== '42710') throw err;
      });
      const [ext] =
        await admin`SELECT extnamespace::regnamespace::text AS schema, extversion FROM pg_extension WHERE extname = 'vector'`;
      assert.ok(ext, 'pgvector is installed (infra/scripts/install-pgvector.sh)');
      console.log(`  PostgreSQL: pgvector ${ext!.extversion} in schema ${ext!.schema}`);
      await admin.unsafe(`CREATE SCHEMA ${quoteIdent(schema)}`);
      const sql = postgres(DATABASE_URL, {
        max: 2,
        onnotice: () => {},
        connection: { search_path: `${quoteIdent(schema)}, ${quoteIdent(ext!.schema)}` },
      });
      const db = postgresDatabase(sql);
      try {
        await scenario(db, 'PostgreSQL');
      } finally {
        await db.close();
      }
    } finally {
      await admin.unsafe(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
      await admin.end();
    }
  });
} else {
  s.skip('PostgreSQL: vector(512), HNSW cosine, top-5 for a paraphrase', () => {});
}

s('PGlite + pglite-pgvector: vector(512), HNSW cosine, top-5 for a paraphrase', async () => {
  const started = performance.now();
  const pg = await PGlite.create({ extensions: { vector } });
  const db = pgliteDatabase(pg);
  try {
    await db.exec('CREATE EXTENSION IF NOT EXISTS vector');
    const [ext] = await db.query<{ v: string }>(
      "SELECT extversion AS v FROM pg_extension WHERE extname = 'vector'",
    );
    console.log(`  PGlite: started in ${(performance.now() - started).toFixed(0)} ms, pgvector ${ext!.v}`);
    const schema = uniqueName('pgv');
    await db.exec(
      `CREATE SCHEMA ${quoteIdent(schema)}; SET search_path TO ${quoteIdent(schema)}, ${quoteIdent(await vectorSchema(db))}`,
    );
    await scenario(db, 'PGlite');
  } finally {
    await db.close();
  }
});

s.run();
