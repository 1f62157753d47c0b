/** The tenant aggregate's events: a tenant registered or renamed, an API key issued or revoked. */
import { z } from 'zod';
import { tenantId } from './envelope.ts';

export const TenantRegistered = z.object({
  type: z.literal('TenantRegistered'),
  data: z.object({ tenantId, name: z.string().min(1).max(200) }),
});
export const TenantRenamed = z.object({
  type: z.literal('TenantRenamed'),
  data: z.object({ name: z.string().min(1).max(200) }),
});
/** Only the SHA-256 of a key is ever stored; the key itself is shown once, to whoever issued it. */
export const ApiKeyIssued = z.object({
  type: z.literal('ApiKeyIssued'),
  data: z.object({
    keyId: z.string().min(1),
    keyHash: z.string().regex(/^[0-9a-f]{64}$/),
    label: z.string().max(200),
    /** Other tenants this key may act for (a `tenant` field or `/{tenant}/` prefix at the edge). */
    actsFor: z.array(tenantId).default([]),
  }),
});
export const ApiKeyRevoked = z.object({
  type: z.literal('ApiKeyRevoked'),
  data: z.object({ keyId: z.string().min(1) }),
});

export const TenantEvent = z.discriminatedUnion('type', [
  TenantRegistered,
  TenantRenamed,
  ApiKeyIssued,
  ApiKeyRevoked,
]);
export type TenantEvent = z.infer<typeof TenantEvent>;
export const tenantStream = (id: string) => `tenant-${id}`;
