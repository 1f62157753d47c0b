/** A hub's first start: the default tenant and a development API key, once. */
import { createHash, randomBytes } from 'node:crypto';
import { tenantStream } from '../events/tenant.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import { handle } from './handle.ts';
import { tenantDecider } from './tenant.ts';

export const DEFAULT_TENANT = 'default';
export const hashApiKey = (key: string) => createHash('sha256').update(key).digest('hex');

/**
 * First start of a hub: registers the default tenant and issues a development API key, returned (once)
 * so the caller can print it. Later starts find the tenant and return null. Idempotent by command id, so
 * two processes starting at once do not issue two keys.
 */
export const bootstrapDefaultTenant = async (store: EventStore): Promise<string | null> => {
  const stream = tenantStream(DEFAULT_TENANT);
  if ((await store.readStream(stream, { maxCount: 1 })).length > 0) return null;
  const context = { tenant: DEFAULT_TENANT, principal: 'system:bootstrap' };
  const registered = await handle(
    store,
    stream,
    { type: 'RegisterTenant', tenantId: DEFAULT_TENANT, name: 'Default tenant' },
    tenantDecider,
    { ...context, commandId: 'bootstrap:register-default-tenant' },
  );
  if (registered.replayed) return null;
  const key = `ac_dev_${randomBytes(24).toString('base64url')}`;
  await handle(
    store,
    stream,
    { type: 'IssueApiKey', keyId: 'dev', keyHash: hashApiKey(key), label: 'development key', actsFor: [] },
    tenantDecider,
    { ...context, commandId: 'bootstrap:issue-dev-key' },
  );
  return key;
};
