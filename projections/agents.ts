/**
 * The agent registry read model: one row per registered (not deregistered) agent, per tenant, with the
 * whole admin view as JSON and what the card-refresh saga selects on (kind, card fetch time, next due).
 * The view is folded by `evolveAgentView`, which the admin API also runs over a stream for a consistent
 * read of one agent.
 */
import {
  AGENT_STREAM_PREFIX,
  type AgentEndpoint,
  AgentEvent,
  type AgentSkillInfo,
  type CardValidators,
  parseAgentStream,
  SYSTEM_TENANT,
} from '../events/agent.ts';
import type { RecordedEvent } from '../events/envelope.ts';
import type { SqlExecutor } from '../infra/sql/port.ts';
import type { Projection } from './projection.ts';

/** An agent as the admin API shows it. */
export interface AgentView {
  agentId: string;
  tenant: string;
  /** An in-process agent of the hub (tenant `system`), visible to every tenant. */
  builtIn: boolean;
  name: string;
  description: string;
  status: 'active' | 'disabled' | 'deregistered';
  disabledReason?: string;
  endpoint: AgentEndpoint;
  skills: AgentSkillInfo[];
  costPerRequest: number;
  /** The card version (`version` of the card), when there is a card. */
  cardVersion?: string;
  card?: Record<string, unknown>;
  validators?: CardValidators;
  /** When the card is due for a refresh (fetchedAt + max-age), remote agents only. */
  refreshDueAt?: string;
  registeredAt: string;
  updatedAt: string;
  /** Revision of the agent's stream this view reflects. */
  revision: number;
}

export interface AgentEventMeta {
  tenant: string;
  agentId: string;
  revision: number;
}

const dueAt = (v: CardValidators | undefined) =>
  v ? new Date(Date.parse(v.fetchedAt) + v.maxAgeSeconds * 1000).toISOString() : undefined;

const cardVersionOf = (card: Record<string, unknown> | undefined) =>
  typeof card?.version === 'string' ? card.version : undefined;

/** Pure: the view after one agent event (null before registration and after deregistration). */
export const evolveAgentView = (
  view: AgentView | null,
  event: AgentEvent,
  meta: AgentEventMeta,
): AgentView | null => {
  if (event.type === 'AgentRegistered') {
    const d = event.data;
    const remote = d.endpoint.kind === 'remote';
    return {
      agentId: meta.agentId,
      tenant: meta.tenant,
      builtIn: meta.tenant === SYSTEM_TENANT,
      name: d.name,
      description: d.description,
      status: 'active',
      endpoint: d.endpoint,
      skills: d.skills,
      costPerRequest: d.costPerRequest,
      ...(cardVersionOf(d.card) ? { cardVersion: cardVersionOf(d.card) } : {}),
      ...(d.card ? { card: d.card } : {}),
      ...(d.validators ? { validators: d.validators } : {}),
      ...(remote && d.validators ? { refreshDueAt: dueAt(d.validators) } : {}),
      registeredAt: d.at,
      updatedAt: d.at,
      revision: meta.revision,
    };
  }
  if (!view) return null;
  const base = { ...view, revision: meta.revision };
  switch (event.type) {
    case 'AgentCardRefreshed': {
      const d = event.data;
      return {
        ...base,
        name: d.name,
        description: d.description,
        endpoint: d.endpoint,
        skills: d.skills,
        card: d.card,
        ...(cardVersionOf(d.card) ? { cardVersion: cardVersionOf(d.card) } : {}),
        validators: d.validators,
        ...(d.endpoint.kind === 'remote' ? { refreshDueAt: dueAt(d.validators) } : {}),
        updatedAt: d.at,
      };
    }
    case 'AgentCardRevalidated':
      return {
        ...base,
        validators: event.data.validators,
        ...(view.endpoint.kind === 'remote' ? { refreshDueAt: dueAt(event.data.validators) } : {}),
      };
    case 'AgentUpdated':
      return {
        ...base,
        ...(event.data.costPerRequest !== undefined ? { costPerRequest: event.data.costPerRequest } : {}),
        ...(event.data.description !== undefined ? { description: event.data.description } : {}),
        updatedAt: event.data.at,
      };
    case 'AgentDisabled':
      return { ...base, status: 'disabled', disabledReason: event.data.reason, updatedAt: event.data.at };
    case 'AgentEnabled': {
      const { disabledReason: _r, ...rest } = base;
      return { ...rest, status: 'active', updatedAt: event.data.at };
    }
    case 'AgentDeregistered':
      return null;
  }
};

/** An agent stream's events folded into its view (null: never registered, or deregistered). */
export const foldAgentView = (events: RecordedEvent[]): AgentView | null => {
  let view: AgentView | null = null;
  for (const e of events) {
    const where = parseAgentStream(e.stream);
    const parsed = AgentEvent.safeParse({ type: e.type, data: e.data });
    if (!where || !parsed.success) continue;
    view = evolveAgentView(view, parsed.data, { ...where, revision: e.revision });
  }
  return view;
};

/** The view without the card (lists). */
export const summaryOf = (view: AgentView): Omit<AgentView, 'card'> => {
  const { card: _c, ...summary } = view;
  return summary;
};

export const agentsProjection: Projection = {
  name: 'agents',
  tables: ['rm_agents'],
  filter: { streamPrefix: AGENT_STREAM_PREFIX },
  migrations: [
    `CREATE TABLE rm_agents (
       tenant text NOT NULL, agent_id text NOT NULL, status text NOT NULL, name text NOT NULL,
       kind text NOT NULL, card_url text, fetched_at timestamptz, refresh_due_at timestamptz,
       revision int NOT NULL, view jsonb NOT NULL, last_position bigint NOT NULL,
       PRIMARY KEY (tenant, agent_id));
     CREATE INDEX rm_agents_refresh_due ON rm_agents (refresh_due_at) WHERE kind = 'remote';`,
  ],
  async apply(recorded: RecordedEvent, tx) {
    const where = parseAgentStream(recorded.stream);
    const parsed = AgentEvent.safeParse({ type: recorded.type, data: recorded.data });
    if (!where || !parsed.success) return; // not an agent event this build knows
    const [row] = await tx.query<{ view: AgentView | string }>(
      'SELECT view FROM rm_agents WHERE tenant = $1 AND agent_id = $2',
      [where.tenant, where.agentId],
    );
    const before = row
      ? typeof row.view === 'string'
        ? (JSON.parse(row.view) as AgentView)
        : row.view
      : null;
    const view = evolveAgentView(before, parsed.data, { ...where, revision: recorded.revision });
    if (!view) {
      await tx.query('DELETE FROM rm_agents WHERE tenant = $1 AND agent_id = $2', [
        where.tenant,
        where.agentId,
      ]);
      return;
    }
    const remote = view.endpoint.kind === 'remote' ? view.endpoint : null;
    await tx.query(
      `INSERT INTO rm_agents (tenant, agent_id, status, name, kind, card_url, fetched_at, refresh_due_at, revision, view, last_position)
       VALUES ($1, $2, $3, $4, $5, $6, $7::timestamptz, $8::timestamptz, $9, $10::text::jsonb, $11)
       ON CONFLICT (tenant, agent_id) DO UPDATE SET status = $3, name = $4, kind = $5, card_url = $6,
         fetched_at = $7::timestamptz, refresh_due_at = $8::timestamptz, revision = $9, view = $10::text::jsonb,
         last_position = $11`,
      [
        where.tenant,
        where.agentId,
        view.status,
        view.name,
        view.endpoint.kind,
        remote?.cardUrl ?? null,
        view.validators?.fetchedAt ?? null,
        view.refreshDueAt ?? null,
        view.revision,
        JSON.stringify(view),
        recorded.position,
      ],
    );
  },
};

/** A tenant's agents, then the built-in ones (`systemTenant`'s), as the read model holds their views. */
export const listAgentViews = async (
  db: SqlExecutor,
  tenant: string,
  systemTenant: string,
): Promise<AgentView[]> => {
  const rows = await db.query<{ view: AgentView | string }>(
    `SELECT view FROM rm_agents WHERE tenant = $1 OR tenant = $2
     ORDER BY CASE WHEN tenant = $2 THEN 1 ELSE 0 END, agent_id`,
    [tenant, systemTenant],
  );
  return rows.map((r) => (typeof r.view === 'string' ? (JSON.parse(r.view) as AgentView) : r.view));
};

/** The id of the tenant's agent registered from this card URL, if any. */
export const agentIdByCardUrl = async (
  db: SqlExecutor,
  tenant: string,
  cardUrl: string,
): Promise<string | null> => {
  const [row] = await db.query<{ agent_id: string }>(
    'SELECT agent_id FROM rm_agents WHERE tenant = $1 AND card_url = $2',
    [tenant, cardUrl],
  );
  return row?.agent_id ?? null;
};

/** Remote agents whose card is due for a refresh and was not fetched since `fetchedBefore`, most overdue first. */
export const agentsDueForRefresh = (
  db: SqlExecutor,
  o: { dueBy: Date; fetchedBefore: Date; limit: number },
) =>
  db.query<{ tenant: string; agent_id: string; fetched_at: string | Date }>(
    `SELECT tenant, agent_id, fetched_at FROM rm_agents
     WHERE kind = 'remote' AND refresh_due_at <= $1::timestamptz AND fetched_at <= $2::timestamptz
     ORDER BY refresh_due_at LIMIT $3`,
    [o.dueBy.toISOString(), o.fetchedBefore.toISOString(), o.limit],
  );
