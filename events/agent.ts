/**
 * The agent aggregate's events: an agent registered, updated, disabled or enabled, deregistered, its card
 * refreshed.
 */
import { z } from 'zod';

/** An agent's skill as discovery indexes it (A2A AgentSkill). */
export const AgentSkillInfo = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  description: z.string(),
  tags: z.array(z.string()).default([]),
  examples: z.array(z.string()).optional(),
  inputModes: z.array(z.string()).optional(),
  outputModes: z.array(z.string()).optional(),
});
export type AgentSkillInfo = z.infer<typeof AgentSkillInfo>;

/** Where and how the hub reaches an agent. */
export const AgentEndpoint = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('in-process') }),
  z.object({
    kind: z.literal('remote'),
    /** Where the card was fetched from. */
    cardUrl: z.string().url(),
    /** The interface chosen from the card: JSON-RPC or HTTP+JSON, v1.0 or v0.3. */
    url: z.string().url(),
    protocolBinding: z.enum(['JSONRPC', 'HTTP+JSON']),
    protocolVersion: z.enum(['1.0', '0.3']),
    streaming: z.boolean(),
  }),
]);
export type AgentEndpoint = z.infer<typeof AgentEndpoint>;

/** HTTP validators of the last card fetch, so refreshes can be conditional. */
export const CardValidators = z.object({
  etag: z.string().optional(),
  lastModified: z.string().optional(),
  /** From Cache-Control max-age; when the next refresh is due. */
  maxAgeSeconds: z.number().int().min(0),
  fetchedAt: z.string(),
});
export type CardValidators = z.infer<typeof CardValidators>;

export const AgentRegistered = z.object({
  type: z.literal('AgentRegistered'),
  data: z.object({
    agentId: z.string(),
    name: z.string(),
    description: z.string(),
    endpoint: AgentEndpoint,
    skills: z.array(AgentSkillInfo),
    /** The card as fetched, normalised to v1.0 (remote agents). */
    card: z.record(z.string(), z.unknown()).optional(),
    validators: CardValidators.optional(),
    costPerRequest: z.number().min(0).default(0),
    at: z.string(),
  }),
});
export const AgentCardRefreshed = z.object({
  type: z.literal('AgentCardRefreshed'),
  data: z.object({
    name: z.string(),
    description: z.string(),
    endpoint: AgentEndpoint,
    skills: z.array(AgentSkillInfo),
    card: z.record(z.string(), z.unknown()),
    validators: CardValidators,
    at: z.string(),
  }),
});
/** A conditional refresh answered 304: only the validators move. */
export const AgentCardRevalidated = z.object({
  type: z.literal('AgentCardRevalidated'),
  data: z.object({ validators: CardValidators, at: z.string() }),
});
export const AgentUpdated = z.object({
  type: z.literal('AgentUpdated'),
  data: z.object({
    costPerRequest: z.number().min(0).optional(),
    description: z.string().optional(),
    at: z.string(),
  }),
});
export const AgentDisabled = z.object({
  type: z.literal('AgentDisabled'),
  data: z.object({ reason: z.string(), at: z.string() }),
});
export const AgentEnabled = z.object({ type: z.literal('AgentEnabled'), data: z.object({ at: z.string() }) });
export const AgentDeregistered = z.object({
  type: z.literal('AgentDeregistered'),
  data: z.object({ at: z.string() }),
});

export const AgentEvent = z.discriminatedUnion('type', [
  AgentRegistered,
  AgentCardRefreshed,
  AgentCardRevalidated,
  AgentUpdated,
  AgentDisabled,
  AgentEnabled,
  AgentDeregistered,
]);
export type AgentEvent = z.infer<typeof AgentEvent>;
/**
 * Agents are scoped per tenant: the stream of agent `<agentId>` of tenant `<tenant>` is
 * `agent-<tenant>:<agentId>`. Tenant and agent ids are both `[a-z0-9][a-z0-9_-]*`, so the ':' separator is
 * unambiguous; it is allowed in stream names (events/envelope.ts) and in NATS subject tokens (a '.' would
 * not be: the bus maps it to '_', so `a.b` and `a_b` would share a subject). The built-in (in-process)
 * agents belong to the reserved tenant `system` and are visible to every tenant for discovery.
 */
export const SYSTEM_TENANT = 'system';
export const AGENT_STREAM_PREFIX = 'agent-';
export const agentStream = (tenant: string, agentId: string) => `${AGENT_STREAM_PREFIX}${tenant}:${agentId}`;
/** The tenant and agent id of an agent stream; null for any other stream. */
export const parseAgentStream = (stream: string): { tenant: string; agentId: string } | null => {
  const m = /^agent-([a-z0-9][a-z0-9_-]*):([a-z0-9][a-z0-9_-]*)$/.exec(stream);
  return m ? { tenant: m[1]!, agentId: m[2]! } : null;
};

/** Tags are matched case-insensitively: stored and queried lower-cased and trimmed. */
export const normaliseTags = (tags: readonly string[]): string[] => [
  ...new Set(tags.map((t) => t.trim().toLowerCase()).filter(Boolean)),
];
