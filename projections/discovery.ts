/**
 * Discovery read model: one row per agent skill with its embedding, the agent's status, circuit, observed
 * latency, cost per request and quality; what hybrid discovery (projections/discovery-search.ts) searches.
 *
 * Tables (owned here, dropped on rebuild):
 * - `rm_agent_skills`: PRIMARY KEY (tenant, agent_id, skill_id); `embedding vector(<dimensions>)` with an
 *   HNSW cosine index, `tags text[]` (lower-cased) with a GIN index. Rows of tenant 'system' (in-process
 *   agents) are visible to every tenant; that is the discovery adapter's rule, the table just stores them.
 * - `rm_discovery_agents`: one row per agent stream, the agent-level state (status, circuit, latency,
 *   outcomes, cost) that survives card refreshes and re-registrations, copied onto its skill rows.
 *
 * Agents are keyed by their stream: the agent key is the stream name without `agent-`, i.e.
 * `<tenant>:<agentId>` (events/agent.ts), which gives the row's tenant and agent id at registration; later
 * events find the agent through its key. Circuit events (events/circuit.ts, stream `circuit-<agent key>`)
 * set the circuit column; RemoteCallCompleted (events/task.ts, with `agentKey`) the latency and quality.
 *
 * Deterministic: a rebuild equals the live tables. Nothing reads a clock; the embeddings are deterministic
 * (offline model); latency is an exponential moving average folded in log order.
 *
 * The vector dimension (and the model) come from the embeddings adapter: the projection is named after
 * them, so switching models gives a new projection whose first migration drops the old tables and whose
 * checkpoint starts at 0, i.e. the read model is rebuilt with the new model; vectors never mix.
 */
import pgvector from 'pgvector';
import { NEUTRAL_OUTCOMES } from '../commands/circuit.ts';
import {
  AGENT_STREAM_PREFIX,
  AgentEvent,
  type AgentSkillInfo,
  normaliseTags,
  parseAgentStream,
} from '../events/agent.ts';
import { agentKeyOfCircuit, CircuitEvent } from '../events/circuit.ts';
import type { RecordedEvent } from '../events/envelope.ts';
import { RemoteCallCompleted } from '../events/task.ts';
import type { Embeddings } from '../infra/embeddings/port.ts';
import type { SqlExecutor } from '../infra/sql/port.ts';
import type { Projection } from './projection.ts';

export type CircuitState = 'closed' | 'open' | 'half-open';

/** The agent key of an agent stream (`agent-<key>`); circuit streams are `circuit-<key>`. */
export const agentKeyOf = (stream: string): string =>
  stream.startsWith(AGENT_STREAM_PREFIX) ? stream.slice(AGENT_STREAM_PREFIX.length) : stream;

/** What a skill is embedded as: name, description, tags and examples. */
export const skillText = (skill: AgentSkillInfo): string =>
  [skill.name, skill.description, skill.tags.join(', '), ...(skill.examples ?? [])]
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => (/[.!?]$/.test(part) ? part : `${part}.`))
    .join(' ');

/** Weight of the newest observation in the latency moving average. */
export const LATENCY_ALPHA = 0.2;

/** pgvector's HNSW index takes at most 2,000 dimensions of `vector`; above that the search is exact. */
export const HNSW_MAX_DIMENSIONS = 2000;

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

export interface DiscoveryProjectionOptions {
  /** Schema holding the pgvector extension (its type, operators, operator classes). Default `public`. */
  vectorSchema?: string;
}

/** The projection's name for a model: a new model or dimension means a new read model, rebuilt. */
export const discoveryProjectionName = (embeddings: Pick<Embeddings, 'model' | 'dimensions'>) =>
  `discovery:${embeddings.dimensions}:${embeddings.model}`;

export const DISCOVERY_TABLES = ['rm_agent_skills', 'rm_discovery_agents'];

/** Event types the projection reads: the agent aggregate, and the health events of routing/circuits. */
export const DISCOVERY_EVENT_TYPES = [
  'AgentRegistered',
  'AgentCardRefreshed',
  'AgentUpdated',
  'AgentDisabled',
  'AgentEnabled',
  'AgentDeregistered',
  'CircuitOpened',
  'CircuitHalfOpened',
  'CircuitClosed',
  'RemoteCallCompleted',
];

const circuitOf: Record<string, CircuitState> = {
  CircuitOpened: 'open',
  CircuitHalfOpened: 'half-open',
  CircuitClosed: 'closed',
};

/**
 * Sets an agent's circuit state (and so its skills' routability). For the circuit-breaker saga's events,
 * applied by this projection; exported for a projection or test that has the state by other means.
 */
export const recordCircuit = async (
  tx: SqlExecutor,
  tenant: string,
  agentId: string,
  state: CircuitState,
): Promise<void> => {
  await tx.query('UPDATE rm_discovery_agents SET circuit = $3 WHERE tenant = $1 AND agent_id = $2', [
    tenant,
    agentId,
    state,
  ]);
  await tx.query('UPDATE rm_agent_skills SET circuit = $3 WHERE tenant = $1 AND agent_id = $2', [
    tenant,
    agentId,
    state,
  ]);
};

/**
 * Folds one remote call's outcome into the agent's health: `quality` = (ok + 1) / (calls + 2) (0.5 before
 * any call), `latency_ms` = moving average of successful calls' latency (weight LATENCY_ALPHA).
 */
export const recordOutcome = async (
  tx: SqlExecutor,
  tenant: string,
  agentId: string,
  outcome: { ok: boolean; latencyMs?: number | null },
): Promise<void> => {
  const latency = outcome.ok && outcome.latencyMs != null ? outcome.latencyMs : null;
  const [agent] = await tx.query<{ latency_ms: number | null; quality: number }>(
    `UPDATE rm_discovery_agents SET
       calls_ok = calls_ok + $3::int,
       calls_failed = calls_failed + 1 - $3::int,
       latency_ms = CASE WHEN $4::double precision IS NULL THEN latency_ms
                         WHEN latency_ms IS NULL THEN $4::double precision
                         ELSE latency_ms + $5::double precision * ($4::double precision - latency_ms) END,
       quality = (calls_ok + $3::int + 1)::double precision / (calls_ok + calls_failed + 1 + 2)
     WHERE tenant = $1 AND agent_id = $2
     RETURNING latency_ms, quality`,
    [tenant, agentId, outcome.ok ? 1 : 0, latency, LATENCY_ALPHA],
  );
  if (!agent) return;
  await tx.query(
    'UPDATE rm_agent_skills SET latency_ms = $3, quality = $4 WHERE tenant = $1 AND agent_id = $2',
    [tenant, agentId, agent.latency_ms, agent.quality],
  );
};

interface AgentRow {
  tenant: string;
  agent_id: string;
  status: 'active' | 'disabled' | 'deregistered';
  circuit: CircuitState;
  latency_ms: number | null;
  cost_per_request: number;
  quality: number;
}

/**
 * The discovery projection for an embeddings adapter: its vectors' dimension sizes the column, its model
 * names the projection (see above). Skills of one agent are embedded in one `embed` call; a skill whose
 * embedded text did not change keeps its stored vector (card refreshes cost no model call).
 */
export const discoveryProjection = (
  embeddings: Embeddings,
  options: DiscoveryProjectionOptions = {},
): Projection => {
  const { dimensions } = embeddings;
  if (!Number.isInteger(dimensions) || dimensions < 1) {
    throw new RangeError(
      `discovery: the embeddings' dimension must be a positive integer, got ${dimensions}`,
    );
  }
  const vs = quoteIdent(options.vectorSchema ?? 'public');
  const index =
    dimensions <= HNSW_MAX_DIMENSIONS
      ? `CREATE INDEX rm_agent_skills_embedding ON rm_agent_skills USING hnsw (embedding ${vs}.vector_cosine_ops)`
      : '';

  const agentOf = async (tx: SqlExecutor, key: string) =>
    (
      await tx.query<AgentRow>(
        `SELECT tenant, agent_id, status, circuit, latency_ms, cost_per_request, quality
         FROM rm_discovery_agents WHERE agent_key = $1`,
        [key],
      )
    )[0];

  /** Replaces the agent's skill rows with `skills`, re-embedding only texts that changed. */
  const writeSkills = async (tx: SqlExecutor, key: string, agent: AgentRow, skills: AgentSkillInfo[]) => {
    // A card listing a skill id twice: the first one counts (one row per id).
    const seen = new Set<string>();
    const unique = skills.filter((s) => !seen.has(s.id) && seen.add(s.id));
    const existing = new Map(
      (
        await tx.query<{ skill_id: string; embedding_text: string; embedding: string }>(
          'SELECT skill_id, embedding_text, embedding::text AS embedding FROM rm_agent_skills WHERE agent_key = $1',
          [key],
        )
      ).map((r) => [r.skill_id, r]),
    );
    const texts = unique.map(skillText);
    const stale = unique.flatMap((s, i) => (existing.get(s.id)?.embedding_text === texts[i] ? [] : [i]));
    const fresh = await embeddings.embed(stale.map((i) => texts[i]!));
    const vectors = unique.map((s) => existing.get(s.id)?.embedding);
    stale.forEach((i, n) => {
      vectors[i] = pgvector.toSql(fresh[n]!) as string;
    });
    const ids = unique.map((s) => s.id);
    await tx.query('DELETE FROM rm_agent_skills WHERE agent_key = $1 AND NOT (skill_id = ANY($2::text[]))', [
      key,
      ids,
    ]);
    if (unique.length === 0) return;
    const columns = 14;
    const values = unique
      .map((_, r) => {
        const p = (c: number) => `$${r * columns + c}`;
        return `(${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, ${p(6)}, ${p(7)}::text[], ${p(8)}, ${p(9)}::${vs}.vector, ${p(10)}, ${p(11)}, ${p(12)}::double precision, ${p(13)}::double precision, ${p(14)}::double precision)`;
      })
      .join(', ');
    const status = agent.status === 'disabled' ? 'disabled' : 'active';
    const params = unique.flatMap((s, i) => [
      agent.tenant,
      agent.agent_id,
      s.id,
      key,
      s.name,
      s.description,
      normaliseTags(s.tags),
      texts[i],
      vectors[i],
      status,
      agent.circuit,
      agent.latency_ms,
      agent.cost_per_request,
      agent.quality,
    ]);
    await tx.query(
      `INSERT INTO rm_agent_skills (tenant, agent_id, skill_id, agent_key, skill_name, description, tags,
         embedding_text, embedding, status, circuit, latency_ms, cost_per_request, quality)
       VALUES ${values}
       ON CONFLICT (tenant, agent_id, skill_id) DO UPDATE SET
         agent_key = EXCLUDED.agent_key, skill_name = EXCLUDED.skill_name, description = EXCLUDED.description,
         tags = EXCLUDED.tags, embedding_text = EXCLUDED.embedding_text, embedding = EXCLUDED.embedding,
         status = EXCLUDED.status, circuit = EXCLUDED.circuit, latency_ms = EXCLUDED.latency_ms,
         cost_per_request = EXCLUDED.cost_per_request, quality = EXCLUDED.quality`,
      params,
    );
  };

  const applyAgentEvent = async (recorded: RecordedEvent, tx: SqlExecutor) => {
    const parsed = AgentEvent.safeParse({ type: recorded.type, data: recorded.data });
    if (!parsed.success) return;
    const event = parsed.data;
    if (!recorded.stream.startsWith(AGENT_STREAM_PREFIX)) return;
    const key = agentKeyOf(recorded.stream);
    if (event.type === 'AgentRegistered') {
      // `agent-<tenant>:<agentId>`; the event's tenant and agent id for any other shape of name.
      const named = parseAgentStream(recorded.stream);
      const tenant = named?.tenant ?? recorded.metadata.tenant;
      const agentId = named?.agentId ?? event.data.agentId;
      // A re-registration after a deregistration keeps the agent's observed health (its circuit stream
      // and call history go on) but starts active with the new card and cost.
      await tx.query(
        `INSERT INTO rm_discovery_agents (agent_key, tenant, agent_id, status, cost_per_request)
         VALUES ($1, $2, $3, 'active', $4)
         ON CONFLICT (agent_key) DO UPDATE SET
           tenant = EXCLUDED.tenant, agent_id = EXCLUDED.agent_id, status = 'active',
           cost_per_request = EXCLUDED.cost_per_request`,
        [key, tenant, agentId, event.data.costPerRequest],
      );
      await writeSkills(tx, key, (await agentOf(tx, key))!, event.data.skills);
      return;
    }
    const agent = await agentOf(tx, key);
    if (!agent || agent.status === 'deregistered') return; // nothing registered under this stream
    switch (event.type) {
      case 'AgentCardRefreshed':
        await writeSkills(tx, key, agent, event.data.skills);
        return;
      case 'AgentUpdated':
        if (event.data.costPerRequest === undefined) return;
        await tx.query('UPDATE rm_discovery_agents SET cost_per_request = $2 WHERE agent_key = $1', [
          key,
          event.data.costPerRequest,
        ]);
        await tx.query('UPDATE rm_agent_skills SET cost_per_request = $2 WHERE agent_key = $1', [
          key,
          event.data.costPerRequest,
        ]);
        return;
      case 'AgentDisabled':
      case 'AgentEnabled': {
        const status = event.type === 'AgentDisabled' ? 'disabled' : 'active';
        await tx.query('UPDATE rm_discovery_agents SET status = $2 WHERE agent_key = $1', [key, status]);
        await tx.query('UPDATE rm_agent_skills SET status = $2 WHERE agent_key = $1', [key, status]);
        return;
      }
      case 'AgentDeregistered':
        await tx.query("UPDATE rm_discovery_agents SET status = 'deregistered' WHERE agent_key = $1", [key]);
        await tx.query('DELETE FROM rm_agent_skills WHERE agent_key = $1', [key]);
        return;
      default:
        return; // AgentCardRevalidated: nothing discovery shows changed
    }
  };

  return {
    name: discoveryProjectionName(embeddings),
    tables: DISCOVERY_TABLES,
    filter: { types: DISCOVERY_EVENT_TYPES },
    migrations: [
      // The tables of a previous model (another projection name) go: their vectors cannot be compared.
      // Only tables of the schema the new ones go into (never a same-named table further on search_path).
      `DO $$ BEGIN IF to_regclass(format('%I.rm_agent_skills', current_schema())) IS NOT NULL THEN EXECUTE format('DROP TABLE %I.rm_agent_skills', current_schema()); END IF; IF to_regclass(format('%I.rm_discovery_agents', current_schema())) IS NOT NULL THEN EXECUTE format('DROP TABLE %I.rm_discovery_agents', current_schema()); END IF; END $$;
       CREATE TABLE rm_discovery_agents (
         agent_key text PRIMARY KEY, tenant text NOT NULL, agent_id text NOT NULL,
         status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled', 'deregistered')),
         circuit text NOT NULL DEFAULT 'closed' CHECK (circuit IN ('closed', 'open', 'half-open')),
         latency_ms double precision, cost_per_request double precision NOT NULL DEFAULT 0,
         calls_ok int NOT NULL DEFAULT 0, calls_failed int NOT NULL DEFAULT 0,
         quality double precision NOT NULL DEFAULT 0.5);
       CREATE INDEX rm_discovery_agents_id ON rm_discovery_agents (tenant, agent_id);
       CREATE TABLE rm_agent_skills (
         tenant text NOT NULL, agent_id text NOT NULL, skill_id text NOT NULL, agent_key text NOT NULL,
         skill_name text NOT NULL, description text NOT NULL, tags text[] NOT NULL DEFAULT '{}',
         embedding_text text NOT NULL, embedding ${vs}.vector(${dimensions}) NOT NULL,
         status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
         circuit text NOT NULL DEFAULT 'closed' CHECK (circuit IN ('closed', 'open', 'half-open')),
         latency_ms double precision, cost_per_request double precision NOT NULL DEFAULT 0,
         quality double precision NOT NULL DEFAULT 0.5,
         PRIMARY KEY (tenant, agent_id, skill_id));
       ${index};
       CREATE INDEX rm_agent_skills_tags ON rm_agent_skills USING gin (tags);
       CREATE INDEX rm_agent_skills_skill ON rm_agent_skills (skill_id);
       CREATE INDEX rm_agent_skills_agent ON rm_agent_skills (agent_key)`,
      // Vectors out of line (pgvector's default, EXTERNAL: a 512-d vector is just over the TOAST
      // threshold), so rows stay narrow for tag and id queries; see EXACT_SCAN_MAX in the adapter.
      'ALTER TABLE rm_agent_skills ALTER COLUMN embedding SET STORAGE EXTERNAL',
    ],
    async apply(recorded, tx) {
      if (recorded.type.startsWith('Agent')) return applyAgentEvent(recorded, tx);
      if (recorded.type in circuitOf) {
        // events/circuit.ts: the agent key is in the event and in the stream name (`circuit-<key>`).
        const parsed = CircuitEvent.safeParse({ type: recorded.type, data: recorded.data });
        const key = parsed.success ? parsed.data.data.agentKey : agentKeyOfCircuit(recorded.stream);
        const agent = key ? await agentOf(tx, agentKeyOf(key)) : undefined;
        if (agent) await recordCircuit(tx, agent.tenant, agent.agent_id, circuitOf[recorded.type]!);
        return;
      }
      if (recorded.type === 'RemoteCallCompleted') {
        // events/task.ts; canceled or abandoned calls say nothing about the agent (as for the breaker).
        const parsed = RemoteCallCompleted.safeParse({ type: recorded.type, data: recorded.data });
        if (!parsed.success || NEUTRAL_OUTCOMES.has(parsed.data.data.outcome)) return;
        const { agentKey, ok, latencyMs } = parsed.data.data;
        const agent = await agentOf(tx, agentKeyOf(agentKey));
        if (agent) await recordOutcome(tx, agent.tenant, agent.agent_id, { ok, latencyMs });
      }
    },
  };
};
