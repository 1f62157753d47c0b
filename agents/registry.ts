/**
 * Agent registration use cases on top of handle() and the Agent aggregate: what the admin API, the CLI
 * (through the admin API), the start-up of the hub and the card-refresh saga call.
 *
 * Agents are scoped per tenant, stream `agent-<tenant>:<agentId>` (events/agent.ts). A tenant sees its
 * own agents and the hub's built-in (in-process) agents, which belong to the reserved tenant `system`; it
 * can change only its own. An agent id is unique within its tenant and may not shadow a built-in agent's.
 * Every change is an event written with the caller's tenant and principal.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { AgentCommand, agentDecider, canonicalJson } from '../commands/agent.ts';
import { CommandError, isRuleViolation, parseCommand } from '../commands/errors.ts';
import { handle } from '../commands/handle.ts';
import { agentStream, SYSTEM_TENANT } from '../events/agent.ts';
import type { RecordedEvent } from '../events/envelope.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import type { SqlExecutor } from '../infra/sql/port.ts';
import type { Lookup, SafeFetchOptions } from '../infra/ssrf.ts';
import {
  type AgentView,
  agentIdByCardUrl,
  foldAgentView,
  listAgentViews,
  summaryOf,
} from '../projections/agents.ts';
import type { Agent } from './agent.ts';
import { AgentCardError, cardUrlOf, fetchAgentCard } from './cards.ts';
import type { AgentDirectory } from './directory.ts';

export { AgentCardError };

/** Who asks: the tenant acted for and the principal (API key, CLI user, saga). */
export interface RegistryCaller {
  tenant: string;
  principal: string;
  /** Idempotency key: the same key on the same agent is not applied twice. */
  commandId?: string;
  correlationId?: string;
  /** For the audit trail: the HTTP request and the peer address it came from. */
  requestId?: string;
  source?: string;
}

export interface RegistryDeps {
  store: EventStore;
  /** The agents read model (projections/agents.ts): lists, and the duplicate-URL check. */
  readModels?: SqlExecutor;
  /** AGENTCORE_ALLOW_PRIVATE_URLS: cards and interfaces may be on loopback/private addresses. */
  allowPrivateUrls: boolean;
  lookup?: Lookup;
  fetch?: SafeFetchOptions['fetch'];
  now?: () => Date;
}

export const AgentIdInput = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9_-]{0,62}$/,
    'agent ids are 1-63 chars of a-z, 0-9, "_" or "-", starting with a letter or digit',
  );

/** "reason: required" rather than "expected string, received undefined". */
const required = {
  error: (issue: { input?: unknown }) => (issue.input === undefined ? 'required' : undefined),
};

export const RegisterRemoteAgentInput = z.strictObject({
  url: z.string(required).url("must be an absolute http(s) URL: the agent's base URL or its card's URL"),
  agentId: AgentIdInput.optional(),
  costPerRequest: z.number().min(0).optional(),
});
export type RegisterRemoteAgentInput = z.input<typeof RegisterRemoteAgentInput>;

export const UpdateAgentInput = z
  .strictObject({
    costPerRequest: z.number().min(0).optional(),
    description: z.string().min(1).max(4000).optional(),
  })
  .refine((v) => v.costPerRequest !== undefined || v.description !== undefined, {
    message: 'give costPerRequest and/or description',
  });
export type UpdateAgentInput = z.input<typeof UpdateAgentInput>;

export const DisableAgentInput = z.strictObject({
  reason: z.string(required).min(1, 'a reason is required').max(1000),
});

/** A CommandError whose `details.reason` the admin API maps to an HTTP status. */
const failure = (
  kind: CommandError['kind'],
  reason: 'ALREADY_EXISTS' | 'PERMISSION_DENIED' | 'NOT_FOUND' | 'FAILED_PRECONDITION',
  message: string,
) => new CommandError(kind, message, { reason });

const agentNotFound = (agentId: string) => failure('not_found', 'NOT_FOUND', `agent ${agentId} not found`);

const contextOf = (caller: RegistryCaller) => ({
  tenant: caller.tenant,
  principal: caller.principal,
  ...(caller.commandId ? { commandId: caller.commandId } : {}),
  ...(caller.correlationId ? { correlationId: caller.correlationId } : {}),
  ...(caller.requestId ? { requestId: caller.requestId } : {}),
  ...(caller.source ? { source: caller.source } : {}),
});

const nowIso = (deps: { now?: () => Date }) => (deps.now?.() ?? new Date()).toISOString();

const readView = async (store: EventStore, tenant: string, agentId: string) =>
  foldAgentView(await store.readStream(agentStream(tenant, agentId)));

/** `Echo Agent (v2)!` → `echo-agent-v2`. */
export const slugOf = (name: string): string =>
  name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 56)
    .replace(/-+$/g, '') || 'agent';

const apply = async (
  deps: RegistryDeps,
  caller: RegistryCaller,
  tenant: string,
  agentId: string,
  command: unknown,
): Promise<{ view: AgentView; events: RecordedEvent[] }> => {
  const parsed = parseCommand(AgentCommand, command);
  const stream = agentStream(tenant, agentId);
  const result = await handle(deps.store, stream, parsed, agentDecider, contextOf(caller));
  const view = foldAgentView(await deps.store.readStream(stream));
  if (!view) throw agentNotFound(agentId);
  return { view, events: result.events };
};

const checkId = (agentId: string) => {
  const parsed = AgentIdInput.safeParse(agentId);
  if (!parsed.success) throw agentNotFound(agentId);
};

/**
 * The caller's own agent, for a change. A built-in agent (tenant `system`) is visible but only the system
 * tenant may change it: PERMISSION_DENIED. Another tenant's agent does not exist for the caller.
 */
const ownAgent = async (deps: RegistryDeps, caller: RegistryCaller, agentId: string): Promise<AgentView> => {
  checkId(agentId);
  const own = await readView(deps.store, caller.tenant, agentId);
  if (own) return own;
  if (caller.tenant !== SYSTEM_TENANT && (await readView(deps.store, SYSTEM_TENANT, agentId))) {
    throw failure(
      'rule_violated',
      'PERMISSION_DENIED',
      `agent ${agentId} is built into the hub: only the system tenant may change it`,
    );
  }
  throw agentNotFound(agentId);
};

// ---- reads ----------------------------------------------------------------------------------------------

/** One agent the caller may see (its tenant's, or built-in), read from its stream: always current. */
export const getAgent = async (
  deps: RegistryDeps,
  caller: RegistryCaller,
  agentId: string,
): Promise<AgentView> => {
  checkId(agentId);
  const view =
    (await readView(deps.store, caller.tenant, agentId)) ??
    (caller.tenant !== SYSTEM_TENANT ? await readView(deps.store, SYSTEM_TENANT, agentId) : null);
  if (!view) throw agentNotFound(agentId);
  return view;
};

/** The caller's tenant's agents, then the built-in ones, from the read model (eventually consistent). */
export const listAgents = async (
  deps: RegistryDeps,
  caller: RegistryCaller,
): Promise<Array<Omit<AgentView, 'card'>>> => {
  if (!deps.readModels) throw new Error('listAgents needs the agents read model');
  return (await listAgentViews(deps.readModels, caller.tenant, SYSTEM_TENANT)).map(summaryOf);
};

// ---- registration ---------------------------------------------------------------------------------------

/**
 * Registers a remote A2A agent by URL: fetches and validates its card (SSRF-guarded), chooses the
 * endpoint, and records AgentRegistered in `agent-<tenant>:<agentId>`. Without `agentId` the id is a slug
 * of the card's name, made unique within the tenant (`name`, `name-2`, ...). The same card URL registered
 * twice in a tenant, or an explicit id already taken (by the tenant or a built-in agent), is ALREADY_EXISTS.
 * Card problems are AgentCardErrors.
 */
export const registerRemoteAgent = async (
  deps: RegistryDeps,
  caller: RegistryCaller,
  input: RegisterRemoteAgentInput,
): Promise<AgentView> => {
  const { url, agentId, costPerRequest } = parseCommand(RegisterRemoteAgentInput, input);
  const cardUrl = cardUrlOf(url);
  const replayed = async (id: string) => {
    if (!caller.commandId) return null;
    const events = await deps.store.readStream(agentStream(caller.tenant, id));
    return events.some((e) => e.metadata.causationId === caller.commandId) ? foldAgentView(events) : null;
  };
  const taken = async (id: string): Promise<string | null> => {
    if (await readView(deps.store, caller.tenant, id)) return `agent ${id} is already registered`;
    if (caller.tenant !== SYSTEM_TENANT && (await readView(deps.store, SYSTEM_TENANT, id))) {
      return `agent id ${id} is taken by a built-in agent`;
    }
    return null;
  };
  if (agentId) {
    const again = await replayed(agentId);
    if (again) return again;
    const why = await taken(agentId);
    if (why) throw failure('rule_violated', 'ALREADY_EXISTS', why);
  }
  if (deps.readModels) {
    const dup = await agentIdByCardUrl(deps.readModels, caller.tenant, cardUrl);
    if (dup) {
      const again = await replayed(dup);
      if (again) return again;
      throw failure(
        'rule_violated',
        'ALREADY_EXISTS',
        `the agent at ${cardUrl} is already registered as ${dup}`,
      );
    }
  }
  const fetched = await fetchAgentCard(url, {
    allowPrivate: deps.allowPrivateUrls,
    ...(deps.lookup ? { lookup: deps.lookup } : {}),
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    ...(deps.now ? { now: deps.now } : {}),
  });
  if (fetched.status !== 'fresh') throw new Error('unconditional card fetch answered not-modified');
  const slug = slugOf(fetched.card.name);
  const candidates = agentId
    ? [agentId]
    : Array.from({ length: 20 }, (_, i) => (i === 0 ? slug : `${slug}-${i + 1}`));
  for (const id of candidates) {
    if (!agentId) {
      const again = await replayed(id);
      if (again) return again;
      if (await taken(id)) continue;
    }
    try {
      const { view } = await apply(deps, caller, caller.tenant, id, {
        type: 'RegisterAgent',
        agentId: id,
        name: fetched.card.name,
        description: fetched.card.description,
        endpoint: fetched.endpoint,
        skills: fetched.skills,
        card: fetched.card,
        validators: fetched.validators,
        costPerRequest: costPerRequest ?? 0,
        at: nowIso(deps),
      });
      return view;
    } catch (error) {
      // Registered concurrently under this id: an explicit id is a conflict, a generated one moves on.
      if (isRuleViolation(error)) {
        if (agentId) throw failure('rule_violated', 'ALREADY_EXISTS', error.message);
        continue;
      }
      throw error;
    }
  }
  throw failure(
    'rule_violated',
    'ALREADY_EXISTS',
    `no free agent id derived from "${slug}": give one (agentId)`,
  );
};

/** The card an in-process agent is registered with: what discovery indexes, in a stable shape. */
const inProcessCard = (agent: Agent) => ({
  name: agent.name,
  description: agent.description,
  version: 'in-process',
  skills: agent.skills.map((s) => ({
    id: s.id,
    name: s.name,
    description: s.description,
    tags: s.tags,
    ...(s.examples ? { examples: s.examples } : {}),
    ...(s.inputModes ? { inputModes: s.inputModes } : {}),
    ...(s.outputModes ? { outputModes: s.outputModes } : {}),
  })),
});

/**
 * At start-up: the hub's in-process agents registered under the `system` tenant (visible to every tenant).
 * Idempotent: an agent already registered with the same definition is left alone; a changed definition
 * (a new build) is an AgentCardRefreshed. Several processes starting at once converge: the command id is
 * derived from the definition, so the loser of the race finds the winner's events and writes nothing.
 */
export const registerInProcessAgents = async (
  store: EventStore,
  agents: AgentDirectory | Agent[],
  options: { now?: () => Date } = {},
): Promise<Array<{ agentId: string; outcome: 'registered' | 'refreshed' | 'unchanged' }>> => {
  const list = Array.isArray(agents) ? agents : agents.list();
  const outcomes: Array<{ agentId: string; outcome: 'registered' | 'refreshed' | 'unchanged' }> = [];
  for (const agent of list) {
    const card = inProcessCard(agent);
    const fingerprint = canonicalJson(card);
    const events = await store.readStream(agentStream(SYSTEM_TENANT, agent.id));
    const current = foldAgentView(events);
    // Same definition and same stream revision: the same command, whichever process sends it.
    const digest = createHash('sha256').update(fingerprint).digest('hex').slice(0, 16);
    const commandId = `builtin:${agent.id}:${digest}@${events.length}`;
    const caller = { tenant: SYSTEM_TENANT, principal: 'system:start-up', commandId };
    const at = nowIso(options);
    const skills = card.skills;
    if (!current) {
      await apply({ store, allowPrivateUrls: false }, caller, SYSTEM_TENANT, agent.id, {
        type: 'RegisterAgent',
        agentId: agent.id,
        name: agent.name,
        description: agent.description,
        endpoint: { kind: 'in-process' },
        skills,
        card,
        costPerRequest: 0,
        at,
      });
      outcomes.push({ agentId: agent.id, outcome: 'registered' });
    } else if (canonicalJson(current.card ?? null) !== fingerprint) {
      await apply({ store, allowPrivateUrls: false }, caller, SYSTEM_TENANT, agent.id, {
        type: 'RefreshCard',
        name: agent.name,
        description: agent.description,
        endpoint: { kind: 'in-process' },
        skills,
        card,
        validators: { maxAgeSeconds: 0, fetchedAt: at },
        at,
      });
      outcomes.push({ agentId: agent.id, outcome: 'refreshed' });
    } else {
      outcomes.push({ agentId: agent.id, outcome: 'unchanged' });
    }
  }
  return outcomes;
};

// ---- changes --------------------------------------------------------------------------------------------

export const updateAgent = async (
  deps: RegistryDeps,
  caller: RegistryCaller,
  agentId: string,
  input: UpdateAgentInput,
): Promise<AgentView> => {
  const change = parseCommand(UpdateAgentInput, input);
  await ownAgent(deps, caller, agentId);
  return (
    await apply(deps, caller, caller.tenant, agentId, { type: 'UpdateAgent', ...change, at: nowIso(deps) })
  ).view;
};

export const disableAgent = async (
  deps: RegistryDeps,
  caller: RegistryCaller,
  agentId: string,
  input: { reason: string },
): Promise<AgentView> => {
  const { reason } = parseCommand(DisableAgentInput, input);
  await ownAgent(deps, caller, agentId);
  return (
    await apply(deps, caller, caller.tenant, agentId, { type: 'DisableAgent', reason, at: nowIso(deps) })
  ).view;
};

export const enableAgent = async (
  deps: RegistryDeps,
  caller: RegistryCaller,
  agentId: string,
): Promise<AgentView> => {
  await ownAgent(deps, caller, agentId);
  return (await apply(deps, caller, caller.tenant, agentId, { type: 'EnableAgent', at: nowIso(deps) })).view;
};

export const deregisterAgent = async (
  deps: RegistryDeps,
  caller: RegistryCaller,
  agentId: string,
): Promise<void> => {
  await ownAgent(deps, caller, agentId);
  const parsed = parseCommand(AgentCommand, { type: 'DeregisterAgent', at: nowIso(deps) });
  await handle(deps.store, agentStream(caller.tenant, agentId), parsed, agentDecider, contextOf(caller));
};

export type RefreshOutcome = 'refreshed' | 'revalidated' | 'not-due';

/**
 * Re-fetches a remote agent's card, conditionally (If-None-Match / If-Modified-Since from the last fetch):
 * a 304, or the same card, is AgentCardRevalidated (only the validators move); a changed card is
 * AgentCardRefreshed. `unconditional` skips the validators (an admin forcing a full re-read).
 */
export const refreshAgentCard = async (
  deps: RegistryDeps,
  caller: RegistryCaller,
  agentId: string,
  options: {
    unconditional?: boolean;
    /**
     * Only if the card is due: its max-age (at least `minIntervalSeconds`) has passed since the last
     * fetch. The saga's check, made on the stream, so that copies of the saga do not refresh twice.
     */
    ifDue?: { minIntervalSeconds: number };
  } = {},
): Promise<{ outcome: RefreshOutcome; view: AgentView }> => {
  const current = await ownAgent(deps, caller, agentId);
  if (current.endpoint.kind !== 'remote') {
    throw failure(
      'rule_violated',
      'FAILED_PRECONDITION',
      `agent ${agentId} runs in-process: it has no card to refresh`,
    );
  }
  if (options.ifDue && current.validators) {
    const { fetchedAt, maxAgeSeconds } = current.validators;
    const due = Date.parse(fetchedAt) + Math.max(maxAgeSeconds, options.ifDue.minIntervalSeconds) * 1000;
    if (due > (deps.now?.() ?? new Date()).getTime()) return { outcome: 'not-due', view: current };
  }
  const v = options.unconditional ? undefined : current.validators;
  const fetched = await fetchAgentCard(current.endpoint.cardUrl, {
    allowPrivate: deps.allowPrivateUrls,
    ...(v?.etag ? { etag: v.etag } : {}),
    ...(v?.lastModified ? { lastModified: v.lastModified } : {}),
    ...(deps.lookup ? { lookup: deps.lookup } : {}),
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    ...(deps.now ? { now: deps.now } : {}),
  });
  const at = nowIso(deps);
  const command =
    fetched.status === 'not-modified'
      ? { type: 'RevalidateCard', validators: fetched.validators, at }
      : {
          type: 'RefreshCard',
          name: fetched.card.name,
          description: fetched.card.description,
          endpoint: fetched.endpoint,
          skills: fetched.skills,
          card: fetched.card,
          validators: fetched.validators,
          at,
        };
  const { view, events } = await apply(deps, caller, caller.tenant, agentId, command);
  return { outcome: events.some((e) => e.type === 'AgentCardRefreshed') ? 'refreshed' : 'revalidated', view };
};
