/**
 * Leader locks: one process leads a role that must run once (the relay), a standby takes over when it dies.
 */
import type postgres from 'postgres';

/** Exclusive leadership for roles where copies must not run side by side (the relay). */
export interface LeaderLock {
  /** Resolves when this process holds the lock; `lost` fires if it is lost later (connection gone). */
  acquire(signal: AbortSignal): Promise<{ lost: Promise<void>; release(): Promise<void> }>;
}

/** One process holds it: the embedded runtime. */
export const soleLeader: LeaderLock = {
  acquire: async () => ({ lost: new Promise<void>(() => {}), release: async () => {} }),
};

/**
 * A session-level advisory lock on a reserved connection: if the holder dies, PostgreSQL drops the
 * connection and the lock with it, and a standby takes over within `pollMs`.
 */
export const postgresLeaderLock = (sql: postgres.Sql, name: string, pollMs = 1000): LeaderLock => ({
  async acquire(signal) {
    while (!signal.aborted) {
      const conn = await sql.reserve();
      const [row] = await conn`SELECT pg_try_advisory_lock(hashtext(${name})) AS ok`;
      if (row?.ok) {
        let release = async () => {};
        const lost = new Promise<void>((resolve) => {
          const timer = setInterval(async () => {
            try {
              await conn`SELECT 1`;
            } catch {
              clearInterval(timer);
              resolve();
            }
          }, pollMs);
          release = async () => {
            clearInterval(timer);
            await conn`SELECT pg_advisory_unlock(hashtext(${name}))`.catch(() => {});
            conn.release();
          };
        });
        return { lost, release: () => release() };
      }
      conn.release();
      await new Promise((r) => setTimeout(r, pollMs));
    }
    throw new Error('leadership acquisition aborted');
  },
});
