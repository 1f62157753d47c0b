/**
 * Tests that need a real service call these before they start. When the service is unreachable they
 * skip loudly, except under CI=true, where an unreachable service is a failure.
 */
import net from 'node:net';

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const reachable = (url: string, defaultPort: number) =>
  new Promise<boolean>((resolve) => {
    const u = new URL(url);
    const socket = net.connect({ host: u.hostname || '127.0.0.1', port: Number(u.port) || defaultPort });
    socket.setTimeout(2000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });

const ports: Record<string, number> = { postgres: 5432, nats: 4222, redis: 6379 };
const urls: Record<string, string> = { postgres: DATABASE_URL, nats: NATS_URL, redis: REDIS_URL };

/** Skips loudly, in one line, or fails under CI=true where every prerequisite must be there. */
const missing = (message: string): false => {
  if (process.env.CI === 'true') throw new Error(`${message}: under CI=true this is a failure`);
  console.warn(`\n!!! SKIPPED: ${message}; these tests did not run !!!\n`);
  return false;
};

/**
 * Whether the pgvector extension can be used in the test database (the distributed runtime's discovery
 * needs it). Checked once per process, with a short timeout, so a missing extension is one line, not a hang.
 */
let pgvector: Promise<string | null> | undefined;
const pgvectorProblem = () => {
  pgvector ??= (async () => {
    const { default: postgres } = await import('postgres');
    const sql = postgres(DATABASE_URL, { max: 1, connect_timeout: 5, onnotice: () => {} });
    try {
      await sql`CREATE EXTENSION IF NOT EXISTS vector`.catch((err: { code?: string }) => {
        if (err.code !== '23505' && err.code !== '42710') throw err; // another process made it first
      });
      return null;
    } catch (error) {
      return `pgvector is not available in PostgreSQL at ${DATABASE_URL} (${(error as Error).message}); npm test installs it first with infra/scripts/prepare-services.sh`;
    } finally {
      await sql.end({ timeout: 1 });
    }
  })();
  return pgvector;
};

/**
 * Resolves true when the service is there; false (after a loud message) when the suite must skip.
 * `pgvector` means PostgreSQL with the vector extension usable in its test database.
 */
export const requireService = async (name: 'postgres' | 'nats' | 'redis' | 'pgvector'): Promise<boolean> => {
  if (name === 'pgvector') {
    if (!(await requireService('postgres'))) return false;
    const problem = await pgvectorProblem();
    return problem ? missing(problem) : true;
  }
  const url = urls[name]!;
  if (await reachable(url, ports[name]!)) return true;
  return missing(`${name} is unreachable at ${url}`);
};

/** A name no other test run uses, safe as a schema, stream or subject token. */
export const uniqueName = (prefix: string) =>
  `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;

/** Deletes a test's JetStream streams (and so its consumers and messages). */
export const dropNamespace = async (namespace: string) => {
  const { createJetStreamBus } = await import('../../infra/bus/jetstream.ts');
  const bus = await createJetStreamBus({ servers: NATS_URL, namespace });
  await bus.destroy();
};
