/**
 * The agent aggregate's decider: registering an agent, updating, disabling, enabling and deregistering it,
 * refreshing its card.
 */
import { z } from 'zod';
import { AgentEndpoint, type AgentEvent, AgentSkillInfo, CardValidators } from '../events/agent.ts';
import { at } from './command-time.ts';
import { notFound, ruleViolated } from './errors.ts';
import type { Decider } from './handle.ts';

const agentId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'agent ids are 1-63 chars of a-z, 0-9, "_" or "-"');
const described = {
  name: z.string().min(1),
  description: z.string(),
  endpoint: AgentEndpoint,
  skills: z.array(AgentSkillInfo),
};

export const AgentCommand = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('RegisterAgent'),
    agentId,
    ...described,
    card: z.record(z.string(), z.unknown()).optional(),
    validators: CardValidators.optional(),
    costPerRequest: z.number().min(0).default(0),
    at,
  }),
  z.object({
    type: z.literal('RefreshCard'),
    ...described,
    card: z.record(z.string(), z.unknown()),
    validators: CardValidators,
    at,
  }),
  z.object({ type: z.literal('RevalidateCard'), validators: CardValidators, at }),
  z.object({
    type: z.literal('UpdateAgent'),
    costPerRequest: z.number().min(0).optional(),
    description: z.string().optional(),
    at,
  }),
  z.object({ type: z.literal('DisableAgent'), reason: z.string().min(1), at }),
  z.object({ type: z.literal('EnableAgent'), at }),
  z.object({ type: z.literal('DeregisterAgent'), at }),
]);
export type AgentCommand = z.infer<typeof AgentCommand>;

export interface AgentState {
  status: 'unknown' | 'active' | 'disabled' | 'deregistered';
  name: string;
  description: string;
  costPerRequest: number;
  skillIds: string[];
  cardFingerprint: string | null;
}

/** JSON with object keys sorted: key order does not survive every event store (PostgreSQL jsonb sorts). */
export const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );

const fingerprint = (card: unknown) => (card ? canonicalJson(card) : null);

export const agentDecider: Decider<AgentCommand, AgentState, AgentEvent> = {
  initialState: () => ({
    status: 'unknown',
    name: '',
    description: '',
    costPerRequest: 0,
    skillIds: [],
    cardFingerprint: null,
  }),
  decide(command, state) {
    if (command.type === 'RegisterAgent') {
      if (state.status === 'active' || state.status === 'disabled') {
        throw ruleViolated(`agent ${command.agentId} is already registered`);
      }
      const { type: _t, ...data } = command;
      return [{ type: 'AgentRegistered', data }];
    }
    if (state.status === 'unknown' || state.status === 'deregistered') throw notFound('agent');
    switch (command.type) {
      case 'RefreshCard': {
        const { type: _t, ...data } = command;
        // An unchanged card is a revalidation, not a new version of the agent.
        if (fingerprint(command.card) === state.cardFingerprint) {
          return [{ type: 'AgentCardRevalidated', data: { validators: command.validators, at: command.at } }];
        }
        return [{ type: 'AgentCardRefreshed', data }];
      }
      case 'RevalidateCard':
        return [{ type: 'AgentCardRevalidated', data: { validators: command.validators, at: command.at } }];
      case 'UpdateAgent': {
        const changed =
          (command.costPerRequest !== undefined && command.costPerRequest !== state.costPerRequest) ||
          (command.description !== undefined && command.description !== state.description);
        if (!changed) return [];
        const { type: _t, ...data } = command;
        return [{ type: 'AgentUpdated', data }];
      }
      case 'DisableAgent':
        return state.status === 'disabled'
          ? []
          : [{ type: 'AgentDisabled', data: { reason: command.reason, at: command.at } }];
      case 'EnableAgent':
        return state.status === 'active' ? [] : [{ type: 'AgentEnabled', data: { at: command.at } }];
      case 'DeregisterAgent':
        return [{ type: 'AgentDeregistered', data: { at: command.at } }];
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'AgentRegistered':
        return {
          status: 'active',
          name: event.data.name,
          description: event.data.description,
          costPerRequest: event.data.costPerRequest,
          skillIds: event.data.skills.map((s) => s.id),
          cardFingerprint: fingerprint(event.data.card),
        };
      case 'AgentCardRefreshed':
        return {
          ...state,
          name: event.data.name,
          description: event.data.description,
          skillIds: event.data.skills.map((s) => s.id),
          cardFingerprint: fingerprint(event.data.card),
        };
      case 'AgentCardRevalidated':
        return state;
      case 'AgentUpdated':
        return {
          ...state,
          costPerRequest: event.data.costPerRequest ?? state.costPerRequest,
          description: event.data.description ?? state.description,
        };
      case 'AgentDisabled':
        return { ...state, status: 'disabled' };
      case 'AgentEnabled':
        return { ...state, status: 'active' };
      case 'AgentDeregistered':
        return { ...state, status: 'deregistered' };
    }
  },
};
