/** API-key authentication for every HTTP route: the caller's tenant and principal, from a hashed key. */
import type { Context, MiddlewareHandler } from 'hono';
import { hashApiKey } from '../commands/bootstrap.ts';
import type { SqlExecutor } from '../infra/sql/port.ts';
import { findLiveKey } from '../projections/tenants.ts';
import { A2AError } from './errors.ts';
import type { Caller } from './service.ts';

/** What an API key proves: the tenant it belongs to and the other tenants it may act for. */
export interface KeyHolder {
  tenant: string;
  principal: string;
  actsFor: string[];
}

export interface Authenticator {
  authenticate(apiKey: string): Promise<KeyHolder | null>;
}

/**
 * Keys are looked up by SHA-256 in the tenants read model and cached briefly (a revoked key stops working
 * within `ttlMs`); unknown keys are cached too, so a flood of bad keys costs no database round trips.
 */
export const apiKeyAuthenticator = (db: SqlExecutor, ttlMs = 5_000): Authenticator => {
  const cache = new Map<string, { holder: KeyHolder | null; expires: number }>();
  return {
    async authenticate(apiKey) {
      const hash = hashApiKey(apiKey);
      const hit = cache.get(hash);
      if (hit && hit.expires > Date.now()) return hit.holder;
      const key = await findLiveKey(db, hash);
      const holder = key
        ? { tenant: key.tenant, principal: `apikey:${key.tenant}/${key.keyId}`, actsFor: key.actsFor }
        : null;
      if (cache.size > 10_000) cache.clear();
      cache.set(hash, { holder, expires: Date.now() + ttlMs });
      return holder;
    },
  };
};

/** `requestId`: hono/request-id's, set on every request by the edge (app/http.ts). */
export type EdgeEnv = { Variables: { holder: KeyHolder | null; requestId?: string } };

/** The peer address of the request's socket (not X-Forwarded-For, which any client can write). */
export const sourceOf = (c: Context<EdgeEnv>): string | undefined => {
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
  return incoming?.socket?.remoteAddress || undefined;
};

/** Reads `X-API-Key` or `Authorization: Bearer <key>`; the bindings decide what an anonymous call may do. */
export const authenticate =
  (auth: Authenticator): MiddlewareHandler<EdgeEnv> =>
  async (c, next) => {
    const bearer = c.req.header('authorization')?.match(/^Bearer\s+(\S+)$/i)?.[1];
    const key = c.req.header('x-api-key') ?? bearer;
    c.set('holder', key ? await auth.authenticate(key) : null);
    await next();
  };

/**
 * The caller of an operation: authenticated, and acting for the key's tenant or, when the request names
 * one (`tenant` field or `/{tenant}/` prefix), for that tenant if the key may act for it.
 */
export const callerOf = (c: Context<EdgeEnv>, requestedTenant?: string): Caller => {
  const holder = c.get('holder');
  if (!holder)
    throw new A2AError('UNAUTHENTICATED', 'A valid API key is required (X-API-Key or Authorization: Bearer)');
  const tenant = requestedTenant || holder.tenant;
  if (tenant !== holder.tenant && !holder.actsFor.includes(tenant)) {
    throw new A2AError('PERMISSION_DENIED', `This key may not act for tenant "${tenant}"`);
  }
  const requestId = c.get('requestId');
  const source = sourceOf(c);
  return {
    tenant,
    principal: holder.principal,
    ...(requestId ? { requestId } : {}),
    ...(source ? { source } : {}),
  };
};
