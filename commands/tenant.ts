/** The tenant aggregate's decider: registering a tenant, renaming it, issuing and revoking its API keys. */
import { z } from 'zod';
import { tenantId } from '../events/envelope.ts';
import type { TenantEvent } from '../events/tenant.ts';
import { notFound, ruleViolated } from './errors.ts';
import type { Decider } from './handle.ts';

export const TenantCommand = z.discriminatedUnion('type', [
  z.object({ type: z.literal('RegisterTenant'), tenantId, name: z.string().trim().min(1).max(200) }),
  z.object({ type: z.literal('RenameTenant'), name: z.string().trim().min(1).max(200) }),
  z.object({
    type: z.literal('IssueApiKey'),
    keyId: z.string().min(1).max(100),
    keyHash: z.string().regex(/^[0-9a-f]{64}$/, 'keyHash must be a hex SHA-256'),
    label: z.string().max(200).default(''),
    actsFor: z.array(tenantId).default([]),
  }),
  z.object({ type: z.literal('RevokeApiKey'), keyId: z.string().min(1) }),
]);
export type TenantCommand = z.infer<typeof TenantCommand>;

export interface TenantState {
  id: string | null;
  name: string;
  keys: Map<string, { hash: string; revoked: boolean }>;
}

export const tenantDecider: Decider<TenantCommand, TenantState, TenantEvent> = {
  initialState: () => ({ id: null, name: '', keys: new Map() }),
  decide(command, state) {
    if (command.type === 'RegisterTenant') {
      if (state.id !== null) throw ruleViolated(`tenant ${state.id} is already registered`);
      return [{ type: 'TenantRegistered', data: { tenantId: command.tenantId, name: command.name } }];
    }
    if (state.id === null) throw notFound('tenant');
    switch (command.type) {
      case 'RenameTenant':
        return command.name === state.name ? [] : [{ type: 'TenantRenamed', data: { name: command.name } }];
      case 'IssueApiKey': {
        if (state.keys.has(command.keyId)) throw ruleViolated(`api key ${command.keyId} already exists`);
        const { keyId, keyHash, label, actsFor } = command;
        return [{ type: 'ApiKeyIssued', data: { keyId, keyHash, label, actsFor } }];
      }
      case 'RevokeApiKey': {
        const key = state.keys.get(command.keyId);
        if (!key) throw notFound(`api key ${command.keyId}`);
        return key.revoked ? [] : [{ type: 'ApiKeyRevoked', data: { keyId: command.keyId } }];
      }
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'TenantRegistered':
        return { ...state, id: event.data.tenantId, name: event.data.name };
      case 'TenantRenamed':
        return { ...state, name: event.data.name };
      case 'ApiKeyIssued':
        return {
          ...state,
          keys: new Map(state.keys).set(event.data.keyId, { hash: event.data.keyHash, revoked: false }),
        };
      case 'ApiKeyRevoked': {
        const keys = new Map(state.keys);
        const key = keys.get(event.data.keyId);
        if (key) keys.set(event.data.keyId, { ...key, revoked: true });
        return { ...state, keys };
      }
    }
  },
};
