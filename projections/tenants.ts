/** The tenants read model (tenants and their API keys' hashes) and the key lookup it answers. */
import { hashApiKey } from '../commands/bootstrap.ts';
import type { RecordedEvent } from '../events/envelope.ts';
import { TenantEvent } from '../events/tenant.ts';
import type { SqlExecutor } from '../infra/sql/port.ts';
import type { Projection } from './projection.ts';

/** Tenants and their API keys, as the edge's authentication reads them (by key hash). */
export const tenantsProjection: Projection = {
  name: 'tenants',
  tables: ['rm_api_keys', 'rm_tenants'],
  filter: { streamPrefix: 'tenant-' },
  migrations: [
    `CREATE TABLE rm_tenants (
       id text PRIMARY KEY, name text NOT NULL, active_keys int NOT NULL DEFAULT 0,
       registered_at timestamptz NOT NULL, last_position bigint NOT NULL);
     CREATE TABLE rm_api_keys (
       key_hash text PRIMARY KEY, key_id text NOT NULL, tenant text NOT NULL REFERENCES rm_tenants(id),
       label text NOT NULL, acts_for jsonb NOT NULL, revoked boolean NOT NULL DEFAULT false,
       issued_at timestamptz NOT NULL, UNIQUE (tenant, key_id));`,
  ],
  async apply(recorded: RecordedEvent, tx) {
    const parsed = TenantEvent.safeParse({ type: recorded.type, data: recorded.data });
    if (!parsed.success) return; // not a tenant event this build knows: nothing to project
    const event = parsed.data;
    const tenant = recorded.stream.slice('tenant-'.length);
    switch (event.type) {
      case 'TenantRegistered':
        await tx.query(
          'INSERT INTO rm_tenants (id, name, registered_at, last_position) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
          [event.data.tenantId, event.data.name, recorded.occurredAt, recorded.position],
        );
        return;
      case 'TenantRenamed':
        await tx.query('UPDATE rm_tenants SET name = $2, last_position = $3 WHERE id = $1', [
          tenant,
          event.data.name,
          recorded.position,
        ]);
        return;
      case 'ApiKeyIssued':
        await tx.query(
          `INSERT INTO rm_api_keys (key_hash, key_id, tenant, label, acts_for, issued_at)
           VALUES ($1, $2, $3, $4, $5::text::jsonb, $6)`,
          [
            event.data.keyHash,
            event.data.keyId,
            tenant,
            event.data.label,
            JSON.stringify(event.data.actsFor),
            recorded.occurredAt,
          ],
        );
        await tx.query(
          'UPDATE rm_tenants SET active_keys = active_keys + 1, last_position = $2 WHERE id = $1',
          [tenant, recorded.position],
        );
        return;
      case 'ApiKeyRevoked':
        await tx.query('UPDATE rm_api_keys SET revoked = true WHERE tenant = $1 AND key_id = $2', [
          tenant,
          event.data.keyId,
        ]);
        await tx.query(
          'UPDATE rm_tenants SET active_keys = active_keys - 1, last_position = $2 WHERE id = $1',
          [tenant, recorded.position],
        );
        return;
    }
  },
};

/** Whether the read model knows this API key (what the edge's authenticator looks up). */
export const apiKeyReadable = async (db: SqlExecutor, key: string): Promise<boolean> =>
  (await db.query('SELECT 1 FROM rm_api_keys WHERE key_hash = $1', [hashApiKey(key)])).length > 0;

/** The tenant, id and delegations of the live (unrevoked) API key with this hash; null for none. */
export const findLiveKey = async (
  db: SqlExecutor,
  keyHash: string,
): Promise<{ tenant: string; keyId: string; actsFor: string[] } | null> => {
  const [row] = await db.query<{ tenant: string; key_id: string; acts_for: string[] }>(
    'SELECT tenant, key_id, acts_for FROM rm_api_keys WHERE key_hash = $1 AND NOT revoked',
    [keyHash],
  );
  return row ? { tenant: row.tenant, keyId: row.key_id, actsFor: row.acts_for } : null;
};
