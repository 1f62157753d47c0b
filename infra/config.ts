import { z } from 'zod';
import { describeZodIssues } from '../commands/errors.ts';

export const ROLES = ['edge', 'sagas', 'workers', 'projections', 'relay'] as const;
export type Role = (typeof ROLES)[number];

const Env = z.object({
  DATABASE_URL: z.string().url().optional(),
  NATS_URL: z.string().optional(),
  REDIS_URL: z.string().url().optional(),
  EVENTSTORE_URL: z.string().optional(),
  AGENTCORE_DATA_DIR: z.string().default('.agentcore'),
  /** Namespace of the JetStream subjects and streams: lets several hubs share one NATS. */
  AGENTCORE_NAMESPACE: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,30}$/)
    .default('ac'),
  /** PostgreSQL schema for the event log and read models: lets several hubs share one database. */
  AGENTCORE_PG_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/)
    .default('public'),
  HOST: z.string().default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(7700),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface Config {
  mode: 'embedded' | 'distributed';
  databaseUrl?: string;
  natsUrl?: string;
  redisUrl?: string;
  eventStoreUrl?: string;
  dataDir: string;
  namespace: string;
  pgSchema: string;
  host: string;
  port: number;
  logLevel: string;
}

/**
 * No DATABASE_URL: embedded (PGlite on disk + in-process bus, one process). With DATABASE_URL and NATS_URL:
 * distributed. Half a distributed configuration is an error, not a silent fallback to embedded.
 */
export const loadConfig = (env: Record<string, string | undefined> = process.env): Config => {
  const parsed = Env.safeParse(env);
  if (!parsed.success) throw new Error(`invalid configuration: ${describeZodIssues(parsed.error.issues)}`);
  const e = parsed.data;
  const distributed = Boolean(e.DATABASE_URL || e.NATS_URL);
  if (distributed && !(e.DATABASE_URL && e.NATS_URL)) {
    throw new Error('invalid configuration: the distributed runtime needs both DATABASE_URL and NATS_URL');
  }
  return {
    mode: distributed ? 'distributed' : 'embedded',
    databaseUrl: e.DATABASE_URL,
    natsUrl: e.NATS_URL,
    redisUrl: e.REDIS_URL,
    eventStoreUrl: e.EVENTSTORE_URL,
    dataDir: e.AGENTCORE_DATA_DIR,
    namespace: e.AGENTCORE_NAMESPACE,
    pgSchema: e.AGENTCORE_PG_SCHEMA,
    host: e.HOST,
    port: e.PORT,
    logLevel: e.LOG_LEVEL,
  };
};

export const parseRoles = (args: string[]): Role[] => {
  const wanted = args.length === 0 || args.includes('all') ? [...ROLES] : args;
  const unknown = wanted.filter((r) => !(ROLES as readonly string[]).includes(r));
  if (unknown.length)
    throw new Error(`unknown role(s) ${unknown.join(', ')}: use ${ROLES.join(', ')} or all`);
  return wanted as Role[];
};
