/**
 * Where each webhook subscription's delivery stands: the log position up to which every matching event
 * was delivered (or dead-lettered), and the replays already applied. Written by the delivering process
 * after delivered events, never per delivery into the log; read by the admin API.
 */
import type { SqlDatabase, SqlExecutor } from '../infra/sql/port.ts';

export const WEBHOOK_CHECKPOINTS_DDL = `CREATE TABLE IF NOT EXISTS webhook_checkpoints (
  subscription_id text PRIMARY KEY,
  tenant text NOT NULL,
  position bigint NOT NULL,
  replays int NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now())`;

export interface WebhookCheckpoint {
  position: number;
  replays: number;
}

export const prepareWebhookCheckpoints = (db: SqlDatabase) => db.exec(WEBHOOK_CHECKPOINTS_DDL);

export const readCheckpoint = async (
  db: SqlExecutor,
  subscriptionId: string,
): Promise<WebhookCheckpoint | null> => {
  const [row] = await db.query<{ position: string; replays: number }>(
    'SELECT position, replays FROM webhook_checkpoints WHERE subscription_id = $1',
    [subscriptionId],
  );
  return row ? { position: Number(row.position), replays: Number(row.replays) } : null;
};

/** The position to start from: the stored one, or `initial`; a replay not yet applied moves it first. */
export const startingPoint = async (
  db: SqlExecutor,
  subscription: { id: string; tenant: string; initial: number; replays: number; replayAfter: number | null },
): Promise<WebhookCheckpoint> => {
  const stored = await readCheckpoint(db, subscription.id);
  let point = stored ?? { position: subscription.initial, replays: 0 };
  if (subscription.replays > point.replays && subscription.replayAfter !== null)
    point = { position: subscription.replayAfter, replays: subscription.replays };
  if (!stored || point !== stored) await saveCheckpoint(db, subscription.id, subscription.tenant, point);
  return point;
};

export const saveCheckpoint = async (
  db: SqlExecutor,
  subscriptionId: string,
  tenant: string,
  point: WebhookCheckpoint,
) => {
  await db.query(
    `INSERT INTO webhook_checkpoints (subscription_id, tenant, position, replays, updated_at)
     VALUES ($1, $2, $3, $4, now())
     ON CONFLICT (subscription_id) DO UPDATE SET position = $3, replays = $4, updated_at = now()`,
    [subscriptionId, tenant, point.position, point.replays],
  );
};

export const dropCheckpoint = async (db: SqlExecutor, subscriptionId: string) => {
  await db.query('DELETE FROM webhook_checkpoints WHERE subscription_id = $1', [subscriptionId]);
};
