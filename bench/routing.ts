/**
 * Routing decision benchmark: how long the routing saga takes to decide one task (sagas/routing.ts
 * routeTask: read the task, discovery with the query embedded by the offline model, the multi-objective
 * score, the circuit check of the chosen agent on its stream, and the TaskRouted append through the task
 * aggregate), at 1,000 registered synthetic agents, on PostgreSQL + pgvector (PostgreSQL event store) and
 * on the embedded runtime (PGlite + pglite-pgvector, PGlite event store).
 *
 * Run: npx tsx bench/routing.ts [agents...] (default 1000). Environment: BENCH_DECISIONS (per cell,
 * default 300), BENCH_TARGETS (postgres,pglite), DATABASE_URL.
 *
 * Synthetic agents (seeded, the same every run): 1-3 skills each from action x subject x qualifier
 * templates, a cost per request of 0-5, and for 60% of them observed health folded in through the
 * discovery projection's own helper (recordOutcome: latency 50-3000 ms, quality); 5% have an open circuit
 * (a real CircuitOpened on their circuit stream, and the read model told by recordCircuit), so routing
 * meets and skips them. Agents are loaded through the discovery projection's apply(); skill vectors are
 * cached in /tmp/agentcore-bench-routing-embeddings.* between runs (the model is deterministic).
 * Queries are natural-language requests built from the same vocabulary, never cached: each decision
 * embeds its query, as the saga does.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import pino from 'pino';
import postgres from 'postgres';
import { circuitDecider } from '../commands/circuit.ts';
import { handle } from '../commands/handle.ts';
import { taskDecider } from '../commands/task.ts';
import { circuitStream } from '../events/circuit.ts';
import type { RecordedEvent } from '../events/envelope.ts';
import { taskStream } from '../events/task.ts';
import type { Discovery } from '../infra/discovery/port.ts';
import { createOfflineEmbeddings } from '../infra/embeddings/offline.ts';
import type { Embeddings } from '../infra/embeddings/port.ts';
import { createPgliteEventStore } from '../infra/event-store/pglite.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import { createPostgresEventStore } from '../infra/event-store/postgres.ts';
import { pgliteDatabase } from '../infra/sql/pglite.ts';
import type { SqlDatabase } from '../infra/sql/port.ts';
import { postgresDatabase } from '../infra/sql/postgres.ts';
import { discoveryProjection, recordCircuit, recordOutcome, skillText } from '../projections/discovery.ts';
import { createDiscovery, ensureVectorExtension } from '../projections/discovery-search.ts';
import { migrateProjection } from '../projections/runner.ts';
import { DEFAULT_ROUTING_WEIGHTS, routeTask, scoreCandidates } from '../sagas/routing.ts';
import { syntheticAgentRegistered } from './synthetic.ts';

const sizes = process.argv.slice(2).map(Number).filter(Boolean);
const SIZES = sizes.length ? sizes : [1000];
const DECISIONS = Number(process.env.BENCH_DECISIONS ?? 300);
const TARGETS = (process.env.BENCH_TARGETS ?? 'postgres,pglite').split(',');
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TENANT = 'bench';
const CACHE = '/tmp/agentcore-bench-routing-embeddings';
const log = pino({ level: 'silent' });

const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const actions: Array<[string, string, string]> = [
  ['Summarise', 'summarization', 'summarise'],
  ['Translate', 'translation', 'translate'],
  ['Classify', 'classification', 'classify'],
  ['Extract key fields from', 'extraction', 'pull the key fields out of'],
  ['Review', 'review', 'review'],
  ['Draft replies to', 'writing', 'write replies to'],
  ['Monitor', 'monitoring', 'keep an eye on'],
  ['Forecast trends in', 'forecasting', 'predict trends in'],
  ['Validate', 'validation', 'check'],
  ['Answer questions about', 'qa', 'answer my questions about'],
  ['Detect anomalies in', 'anomaly-detection', 'spot anything unusual in'],
  ['Redact personal data from', 'privacy', 'remove personal data from'],
];
const subjects: Array<[string, string]> = [
  ['supplier invoices', 'finance'],
  ['expense reports', 'finance'],
  ['payroll runs', 'hr'],
  ['job applications', 'hr'],
  ['commercial contracts', 'legal'],
  ['customer support tickets', 'support'],
  ['product reviews', 'ecommerce'],
  ['shipping manifests', 'logistics'],
  ['server logs', 'devops'],
  ['pull requests', 'code'],
  ['sales pipelines', 'sales'],
  ['news articles', 'media'],
  ['research papers', 'research'],
  ['patient records', 'healthcare'],
  ['insurance claims', 'insurance'],
  ['security alerts', 'security'],
  ['meeting notes', 'productivity'],
  ['travel bookings', 'travel'],
];
const qualifiers = [
  'for small businesses',
  'in real time',
  'in forty languages',
  'for enterprise teams',
  'every night',
];

interface SyntheticAgent {
  id: string;
  cost: number;
  health: { latencyMs: number; quality: number } | null;
  open: boolean;
  skills: Array<{ id: string; name: string; description: string; tags: string[] }>;
}

const generate = (count: number): SyntheticAgent[] => {
  const random = prng(7);
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
  return Array.from({ length: count }, (_, n) => {
    const skills = new Map<string, SyntheticAgent['skills'][number]>();
    const wanted = 1 + Math.floor(random() * 3);
    while (skills.size < wanted) {
      const [action, tag] = pick(actions);
      const [subject, domain] = pick(subjects);
      const id = `${tag}-${subject.replaceAll(' ', '-')}`;
      skills.set(id, {
        id,
        name: `${action} ${subject}`,
        description: `${action} ${subject} ${pick(qualifiers)}.`,
        tags: [domain, tag],
      });
    }
    return {
      id: `agent-${n}`,
      cost: Math.round(random() * 500) / 100,
      health: random() < 0.6 ? { latencyMs: 50 + Math.round(random() * 2950), quality: random() } : null,
      open: random() < 0.05,
      skills: [...skills.values()],
    };
  });
};

const queriesFor = (count: number): string[] => {
  const random = prng(99);
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
  const openers = ['Please', 'Could you', 'I need you to', 'Can you'];
  return Array.from({ length: count }, () => {
    const [, , verb] = pick(actions);
    const [subject] = pick(subjects);
    return `${pick(openers)} ${verb} these ${subject} from last week`;
  });
};

/** The offline model behind a file cache (texts in .json, float32 vectors in .f32, same order). */
const cachedEmbeddings = (model: Embeddings) => {
  const index = new Map<string, number>();
  let vectors = new Float32Array(0);
  if (existsSync(`${CACHE}.json`) && existsSync(`${CACHE}.f32`)) {
    const saved = JSON.parse(readFileSync(`${CACHE}.json`, 'utf8')) as { model: string; texts: string[] };
    const buffer = readFileSync(`${CACHE}.f32`);
    if (saved.model === model.model && buffer.length === saved.texts.length * model.dimensions * 4) {
      vectors = new Float32Array(buffer.buffer, buffer.byteOffset, buffer.length / 4).slice();
      for (const [i, t] of saved.texts.entries()) index.set(t, i);
    }
  }
  const get = (text: string) =>
    Array.from(
      vectors.subarray(index.get(text)! * model.dimensions, (index.get(text)! + 1) * model.dimensions),
    );
  return {
    async fill(texts: string[]) {
      const missing = [...new Set(texts)].filter((t) => !index.has(t));
      if (missing.length === 0) return;
      console.log(`embedding ${missing.length} skill texts (cached in ${CACHE}.*) ...`);
      const fresh = await model.embed(missing);
      const grown = new Float32Array(vectors.length + missing.length * model.dimensions);
      grown.set(vectors);
      const base = index.size;
      for (const [i, t] of missing.entries()) {
        grown.set(fresh[i]!, (base + i) * model.dimensions);
        index.set(t, base + i);
      }
      vectors = grown;
      writeFileSync(`${CACHE}.json`, JSON.stringify({ model: model.model, texts: [...index.keys()] }));
      writeFileSync(`${CACHE}.f32`, Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength));
    },
    /** Skill texts from the cache; anything else (queries) through the model. */
    embeddings: {
      dimensions: model.dimensions,
      model: model.model,
      embed: async (texts: string[]) =>
        texts.every((t) => index.has(t)) ? texts.map(get) : model.embed(texts),
    } satisfies Embeddings,
  };
};

interface Target {
  name: string;
  open(): Promise<{ db: SqlDatabase; store: EventStore; vectorSchema: string; close(): Promise<void> }>;
}

const targets: Target[] = [
  {
    name: 'PostgreSQL + pgvector',
    async open() {
      const schema = `bench_routing_${process.pid}`;
      const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
      await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.unsafe(`CREATE SCHEMA ${schema}`);
      const sql = postgres(DATABASE_URL, { max: 8, onnotice: () => {}, connection: { search_path: schema } });
      const db = postgresDatabase(sql);
      const store = await createPostgresEventStore({ sql, schema });
      return {
        db,
        store,
        vectorSchema: await ensureVectorExtension(db),
        async close() {
          await store.close();
          await sql.end();
          await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          await admin.end();
        },
      };
    },
  },
  {
    name: 'PGlite + pglite-pgvector (embedded)',
    async open() {
      const dir = mkdtempSync(join(os.tmpdir(), 'agentcore-bench-routing-'));
      const pglite = await PGlite.create(dir, { extensions: { vector } });
      const db = pgliteDatabase(pglite);
      const store = await createPgliteEventStore({ db: pglite });
      return {
        db,
        store,
        vectorSchema: await ensureVectorExtension(db),
        async close() {
          await store.close();
          await pglite.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
].filter((t) => TARGETS.some((want) => t.name.toLowerCase().startsWith(want)));

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))]! : Number.NaN;
};
const ms = (x: number) => x.toFixed(x < 1 ? 3 : 1);

const main = async () => {
  const offline = createOfflineEmbeddings();
  const cache = cachedEmbeddings(offline);
  const biggest = generate(Math.max(...SIZES));
  await cache.fill(biggest.flatMap((a) => a.skills.map((s) => skillText(s))));
  const queries = queriesFor(DECISIONS);
  await offline.embed(['warm up the model']);

  const rows: string[][] = [];
  for (const target of targets) {
    for (const size of SIZES) {
      const agents = biggest.slice(0, size);
      const { db, store, vectorSchema, close } = await target.open();
      try {
        const projection = discoveryProjection(cache.embeddings, { vectorSchema });
        await migrateProjection(db, projection);
        for (let i = 0; i < agents.length; i += 250) {
          await db.transaction(async (tx) => {
            for (const [k, agent] of agents.slice(i, i + 250).entries()) {
              const event = syntheticAgentRegistered(TENANT, agent, i + k + 1);
              await projection.apply(event, tx);
              if (agent.health) {
                // A few observed calls: latency around the agent's, quality from the outcomes.
                for (let c = 0; c < 4; c++) {
                  await recordOutcome(tx, TENANT, agent.id, {
                    ok: c / 4 < agent.health.quality,
                    latencyMs: agent.health.latencyMs,
                  });
                }
              }
              if (agent.open) await recordCircuit(tx, TENANT, agent.id, 'open');
            }
          });
        }
        for (const agent of agents.filter((a) => a.open)) {
          const key = `${TENANT}:${agent.id}`;
          await handle(
            store,
            circuitStream(key),
            {
              type: 'RecordCallOutcome',
              agentKey: key,
              taskId: 'seed',
              callId: randomUUID(),
              ok: false,
              outcome: 'timeout',
              threshold: 1,
              cooldownMs: 3_600_000,
              at: new Date().toISOString(),
            },
            circuitDecider,
            { tenant: TENANT, principal: 'bench' },
          );
        }

        // Discovery timed on its own, inside the decision.
        const live = createDiscovery({ db, embeddings: offline, vectorSchema });
        const discoveryMs: number[] = [];
        let lastCandidates: Awaited<ReturnType<Discovery['discover']>> = [];
        const timed: Discovery = {
          async discover(q) {
            const t0 = performance.now();
            lastCandidates = await live.discover(q);
            discoveryMs.push(performance.now() - t0);
            return lastCandidates;
          },
        };
        const deps = { store, discovery: timed, log, routeByDefault: true, weights: DEFAULT_ROUTING_WEIGHTS };

        const submit = async (text: string): Promise<RecordedEvent> => {
          const taskId = randomUUID();
          const result = await handle(
            store,
            taskStream(taskId),
            {
              type: 'SubmitTask',
              taskId,
              contextId: randomUUID(),
              message: { messageId: randomUUID(), role: 'ROLE_USER', parts: [{ text }] },
              agent: null,
              at: new Date().toISOString(),
            },
            taskDecider,
            { tenant: TENANT, principal: 'bench' },
          );
          return result.events[0]!;
        };
        for (let i = 0; i < 10; i++) await routeTask(deps, await submit(queries[i % queries.length]!)); // warm-up
        discoveryMs.length = 0;

        const totalMs: number[] = [];
        const scoreMs: number[] = [];
        const outcomes = { routed: 0, rejected: 0, skippedOpen: 0 };
        for (const text of queries) {
          const submitted = await submit(text);
          const t0 = performance.now();
          const result = await routeTask(deps, submitted);
          totalMs.push(performance.now() - t0);
          if ('routed' in result) outcomes.routed++;
          else if ('rejected' in result) outcomes.rejected++;
          if ('candidates' in result)
            outcomes.skippedOpen += result.candidates.filter((c) => c.excludedBy === 'circuit-open').length;
          // The score alone, on the same candidates, many times (it is microseconds).
          const inputs = lastCandidates.map((c) => ({
            agentKey: `${TENANT}:${c.agentId}`,
            skillId: c.skillId,
            similarity: c.similarity,
            matchedBy: c.matchedBy,
            latencyMs: c.latencyMs,
            cost: c.costPerRequest,
            quality: c.quality,
            status: c.status,
            circuit: c.circuit,
          }));
          const s0 = performance.now();
          for (let r = 0; r < 100; r++)
            scoreCandidates(inputs, DEFAULT_ROUTING_WEIGHTS, { minSimilarity: 0.35 });
          scoreMs.push((performance.now() - s0) / 100);
        }
        const rest = totalMs.map((t, i) => t - discoveryMs[i]!);
        const skills = agents.reduce((n, a) => n + a.skills.length, 0);
        rows.push([
          target.name,
          `${size} (${skills} skills)`,
          String(queries.length),
          `${outcomes.routed}/${outcomes.rejected}`,
          ms(percentile(totalMs, 50)),
          ms(percentile(totalMs, 95)),
          ms(percentile(discoveryMs, 50)),
          ms(percentile(discoveryMs, 95)),
          ms(percentile(scoreMs, 50)),
          ms(percentile(rest, 50)),
          ms(percentile(rest, 95)),
        ]);
        console.log(
          `${target.name}, ${size} agents: done (${outcomes.skippedOpen} open-circuit candidates skipped)`,
        );
      } finally {
        await close();
      }
    }
  }
  const header = [
    'target',
    'agents',
    'decisions',
    'routed/rejected',
    'decision p50 ms',
    'decision p95 ms',
    'discovery p50 ms',
    'discovery p95 ms',
    'score p50 ms',
    'task read + circuit + append p50 ms',
    'p95 ms',
  ];
  console.log(`\n| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
};

await main();
