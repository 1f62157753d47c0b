/**
 * Hybrid discovery on the read-model database (PostgreSQL + pgvector, or PGlite + pglite-pgvector), over
 * the discovery projection's `rm_agent_skills` (projections/discovery.ts).
 *
 * One query runs two searches at once (Promise.all):
 * - exact: skill id equality and/or tag overlap (GIN index), best overlap first;
 * - semantic: the text embedded once, then the top-k by cosine distance (`<=>`): an exact scan when the
 *   caller sees at most EXACT_SCAN_MAX skills, otherwise HNSW with `hnsw.ef_search` raised and pgvector
 *   0.8's iterative scan (`strict_order`), so the tenant and routability filters, applied after the
 *   index, still leave k rows in distance order.
 * Both search the caller's tenant's rows and those of tenant 'system' (in-process agents). Results are
 * merged by (tenant, agent, skill), `matchedBy` accumulated; an exact hit the semantic top-k missed gets
 * its cosine from a second, by-key query. Order: similarity, then exactness (skill id > tag > semantic
 * only), then tag overlap, then ids (deterministic).
 */
import pgvector from 'pgvector';
import { normaliseTags, SYSTEM_TENANT } from '../events/agent.ts';
import type { Candidate, Discovery, DiscoveryQuery } from '../infra/discovery/port.ts';
import type { Embeddings } from '../infra/embeddings/port.ts';
import type { SqlDatabase, SqlExecutor } from '../infra/sql/port.ts';

export const DEFAULT_LIMIT = 10;
export const MAX_LIMIT = 100;

/** A candidate as this adapter returns it: the port's fields, plus where it comes from and what it says. */
export interface DiscoveredSkill extends Candidate {
  /** The tenant that registered the agent: the caller's, or 'system'. */
  tenant: string;
  description: string;
  tags: string[];
}

export interface DiscoveryOptions {
  db: SqlDatabase;
  embeddings: Embeddings;
  /** Schema holding the pgvector extension. Default `public`. */
  vectorSchema?: string;
  /** HNSW candidate list size per search (pgvector default 40); at least 2 x the limit is used. */
  efSearch?: number;
  /** Up to this many visible skills (tenant + system), the semantic search is exact, not HNSW. */
  exactScanMax?: number;
}

/**
 * Up to this many visible skills an exact scan (about 5 us per row on PostgreSQL: a 512-d vector is just
 * over the TOAST threshold, so each is read from the TOAST table) costs no more than an HNSW search, and
 * finds the true nearest neighbours; above it, HNSW. (Storing vectors inline, STORAGE PLAIN, makes the
 * exact scan ~3x faster but every row ~2 KB wider, which slows broad tag queries as much: not done.)
 */
export const EXACT_SCAN_MAX = 300;

interface Row {
  tenant: string;
  agent_id: string;
  skill_id: string;
  skill_name: string;
  description: string;
  tags: string[];
  latency_ms: number | null;
  cost_per_request: number;
  quality: number;
  status: 'active' | 'disabled';
  circuit: 'closed' | 'open' | 'half-open';
}
type ExactRow = Row & { by_id: boolean; by_tag: boolean; overlap: number };
type SemanticRow = Row & { similarity: number };

const COLUMNS = `tenant, agent_id, skill_id, skill_name, description, tags, latency_ms, cost_per_request,
  quality, status, circuit`;

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** The schema of the pgvector extension, creating the extension (in `public`) when it is missing. */
export const ensureVectorExtension = async (db: SqlExecutor): Promise<string> => {
  const schemaOf = async () =>
    (
      await db.query<{ schema: string }>(
        "SELECT extnamespace::regnamespace::text AS schema FROM pg_extension WHERE extname = 'vector'",
      )
    )[0]?.schema;
  const existing = await schemaOf();
  if (existing) return existing;
  try {
    await db.query('CREATE EXTENSION IF NOT EXISTS vector SCHEMA public');
  } catch (err) {
    // Two processes creating it at once: the loser sees a duplicate, and the extension is there.
    const code = (err as { code?: string }).code;
    if (code !== '23505' && code !== '42710') {
      throw new Error(
        `the pgvector extension is needed for agent discovery and could not be created (${(err as Error).message}); ` +
          'on PostgreSQL install it first (infra/scripts/install-pgvector.sh), on PGlite load @electric-sql/pglite-pgvector',
        { cause: err },
      );
    }
  }
  const schema = await schemaOf();
  if (!schema) throw new Error('the pgvector extension is missing after CREATE EXTENSION');
  return schema;
};

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

/** The port, with this adapter's richer candidates. */
export interface HybridDiscovery extends Discovery {
  discover(query: DiscoveryQuery): Promise<DiscoveredSkill[]>;
}

export const createDiscovery = (options: DiscoveryOptions): HybridDiscovery => {
  const { db, embeddings } = options;
  const vs = quoteIdent(options.vectorSchema ?? 'public');
  const baseEf = options.efSearch ?? 100;
  const exactScanMax = options.exactScanMax ?? EXACT_SCAN_MAX;
  // pgvector >= 0.8 can keep scanning the index until enough rows pass the filters.
  let iterative: Promise<boolean> | null = null;
  const supportsIterativeScan = () => {
    iterative ??= db
      .query<{ v: string }>("SELECT extversion AS v FROM pg_extension WHERE extname = 'vector'")
      .then(([row]) => {
        const [major = 0, minor = 0] = (row?.v ?? '0.0').split('.').map(Number);
        return major > 0 || minor >= 8;
      })
      .catch(() => {
        iterative = null;
        return false;
      });
    return iterative;
  };

  const scope = (tenant: string) => (tenant === SYSTEM_TENANT ? [SYSTEM_TENANT] : [tenant, SYSTEM_TENANT]);
  const routable = (on: boolean) => (on ? `AND status = 'active' AND circuit = 'closed'` : '');

  /** How many of the query's tags a row has: one array test per tag (cheaper than unnesting the row's). */
  const overlap = (n: number) =>
    n === 0
      ? '0'
      : Array.from({ length: n }, (_, i) => `(($3::text[])[${i + 1}] = ANY(tags))::int`).join(' + ');

  const exact = async (tenants: string[], skillId: string | null, tags: string[], k: number, r: boolean) =>
    db.query<ExactRow>(
      `SELECT ${COLUMNS},
         coalesce(skill_id = $2::text, false) AS by_id, tags && $3::text[] AS by_tag,
         ${overlap(tags.length)} AS overlap
       FROM rm_agent_skills
       WHERE tenant = ANY($1::text[]) AND (skill_id = $2::text OR tags && $3::text[]) ${routable(r)}
       ORDER BY by_id DESC, overlap DESC, tenant, agent_id, skill_id
       LIMIT $4`,
      [tenants, skillId, tags, k],
    );

  /** True when the tenant's and the system's skills are at most `n` rows (reads at most n + 1 entries). */
  const fewRows = async (tenants: string[], n: number) => {
    const [row] = await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM (SELECT 1 FROM rm_agent_skills WHERE tenant = ANY($1::text[]) LIMIT $2) s',
      [tenants, n + 1],
    );
    return Number(row?.n ?? 0) <= n;
  };

  const semantic = async (tenants: string[], text: string, k: number, r: boolean) => {
    // The plan is chosen here, not left to statistics that PGlite never gathers (no autovacuum) and that
    // lag behind bulk registrations on PostgreSQL (the planner then sorts every visible row by distance):
    // a small visible set is scanned exactly, a large one through the HNSW index.
    const [[vector], small, strict] = await Promise.all([
      embeddings.embed([text]),
      fewRows(tenants, exactScanMax),
      supportsIterativeScan(),
    ]);
    const q = pgvector.toSql(vector) as string;
    const ef = Math.min(1000, Math.max(baseEf, 2 * k));
    // Settings local to the transaction, in one round trip.
    const settings: Array<[string, string]> = small
      ? // Exact: the visible rows found through the primary key (tenant first), sorted by distance.
        [
          ['enable_indexscan', 'off'],
          ['enable_seqscan', 'off'],
        ]
      : // Approximate: only the HNSW index yields rows in distance order without a sort.
        [
          ['enable_sort', 'off'],
          ['hnsw.ef_search', String(ef)],
          ...(strict ? [['hnsw.iterative_scan', 'strict_order'] as [string, string]] : []),
        ];
    const rows = await db.transaction(async (tx) => {
      await tx.query(
        `SELECT ${settings.map((_, i) => `set_config($${2 * i + 1}, $${2 * i + 2}, true)`).join(', ')}`,
        settings.flat(),
      );
      return tx.query<SemanticRow>(
        `SELECT ${COLUMNS}, 1 - (embedding OPERATOR(${vs}.<=>) $1::${vs}.vector) AS similarity
         FROM rm_agent_skills
         WHERE tenant = ANY($2::text[]) ${routable(r)}
         ORDER BY embedding OPERATOR(${vs}.<=>) $1::${vs}.vector
         LIMIT $3`,
        [q, tenants, k],
      );
    });
    return { rows, q };
  };

  /** Cosine of the query to skills found only by the exact search. */
  const cosines = async (q: string, keys: Array<{ tenant: string; agent_id: string; skill_id: string }>) =>
    db.query<{ tenant: string; agent_id: string; skill_id: string; similarity: number }>(
      `SELECT s.tenant, s.agent_id, s.skill_id, 1 - (s.embedding OPERATOR(${vs}.<=>) $1::${vs}.vector) AS similarity
       FROM rm_agent_skills s
       JOIN unnest($2::text[], $3::text[], $4::text[]) AS k(tenant, agent_id, skill_id)
         ON s.tenant = k.tenant AND s.agent_id = k.agent_id AND s.skill_id = k.skill_id`,
      [q, keys.map((k) => k.tenant), keys.map((k) => k.agent_id), keys.map((k) => k.skill_id)],
    );

  return {
    async discover(query) {
      const limit = Math.min(MAX_LIMIT, Math.max(1, Math.trunc(query.limit ?? DEFAULT_LIMIT)));
      const r = query.routableOnly ?? true;
      const tenants = scope(query.tenant);
      const text = query.text?.trim() || null;
      const skillId = query.skillId?.trim() || null;
      const tags = normaliseTags(query.tags ?? []);
      const wantExact = skillId !== null || tags.length > 0;
      if (!text && !wantExact) return [];
      // With a text, exact hits are ranked by their cosine afterwards: fetch more than the limit.
      const exactK = text ? Math.min(4 * MAX_LIMIT, Math.max(50, 5 * limit)) : limit;

      const [exactRows, sem] = await Promise.all([
        wantExact ? exact(tenants, skillId, tags, exactK, r) : Promise.resolve([]),
        text ? semantic(tenants, text, limit, r) : Promise.resolve(null),
      ]);

      const merged = new Map<string, DiscoveredSkill & { rank: number; overlap: number }>();
      const keyOf = (row: Pick<Row, 'tenant' | 'agent_id' | 'skill_id'>) =>
        JSON.stringify([row.tenant, row.agent_id, row.skill_id]);
      const candidate = (row: Row, similarity: number) => ({
        agentId: row.agent_id,
        skillId: row.skill_id,
        skillName: row.skill_name,
        similarity,
        matchedBy: [] as Candidate['matchedBy'],
        latencyMs: num(row.latency_ms),
        costPerRequest: Number(row.cost_per_request),
        quality: Number(row.quality),
        status: row.status,
        circuit: row.circuit,
        tenant: row.tenant,
        description: row.description,
        tags: row.tags,
        rank: 0,
        overlap: 0,
      });
      for (const row of exactRows) {
        const c = candidate(row, row.by_id && !text ? 1 : 0);
        if (row.by_id) c.matchedBy.push('skill-id');
        if (row.by_tag) c.matchedBy.push('tag');
        c.rank = (row.by_id ? 2 : 0) + (row.by_tag ? 1 : 0);
        c.overlap = Number(row.overlap);
        merged.set(keyOf(row), c);
      }
      if (sem) {
        for (const row of sem.rows) {
          const key = keyOf(row);
          const c = merged.get(key) ?? candidate(row, 0);
          c.similarity = Number(row.similarity);
          c.matchedBy.push('semantic');
          merged.set(key, c);
        }
        const missing = exactRows.filter((row) => !merged.get(keyOf(row))!.matchedBy.includes('semantic'));
        if (missing.length) {
          for (const row of await cosines(sem.q, missing)) {
            merged.get(keyOf(row))!.similarity = Number(row.similarity);
          }
        }
      }
      return [...merged.values()]
        .sort(
          (a, b) =>
            b.similarity - a.similarity ||
            b.rank - a.rank ||
            b.matchedBy.length - a.matchedBy.length ||
            b.overlap - a.overlap ||
            (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0) ||
            (a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0) ||
            (a.skillId < b.skillId ? -1 : a.skillId > b.skillId ? 1 : 0),
        )
        .slice(0, limit)
        .map(({ rank: _r, overlap: _o, ...c }) => c);
    },
  };
};
