/**
 * The hub's configuration, read and checked from the environment (and AGENTCORE_LLM_AGENTS_FILE) once at
 * start.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { LlmAgentSpec } from '../agents/llm.ts';
import { describeZodIssues } from '../events/issues.ts';
import {
  EventStreamEnv,
  type EventStreamLimits,
  ListTasksEnv,
  PushEnv,
  type PushLimits,
  toEventStreamLimits,
  toPushLimits,
} from '../infra/limits.ts';
import { MetricsEnv, type MetricsRetention, toMetricsRetention } from '../projections/metrics-settings.ts';
import { toWebhookSettings, WebhookEnv, type WebhookSettings } from '../sagas/webhook-settings.ts';

export const ROLES = ['edge', 'sagas', 'workers', 'projections', 'relay'] as const;
export type Role = (typeof ROLES)[number];

const Env = z.object({
  ...EventStreamEnv.shape,
  ...PushEnv.shape,
  ...ListTasksEnv.shape,
  ...WebhookEnv.shape,
  ...MetricsEnv.shape,
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
  /** The URL clients reach the hub at (agent card URLs); by default the origin of each request. */
  AGENTCORE_PUBLIC_URL: z.string().url().optional(),
  /** How long a worker may run an agent before the bus hands the task to another worker. */
  AGENTCORE_WORKER_ACK_WAIT_MS: z.coerce.number().int().min(100).default(30_000),
  AGENTCORE_SAGA_ACK_WAIT_MS: z.coerce.number().int().min(100).default(30_000),
  /** Let push notifications and remote agents reach loopback/private addresses (tests, private networks). */
  AGENTCORE_ALLOW_PRIVATE_URLS: z
    .enum(['true', 'false', '1', '0'])
    .default('false')
    .transform((v) => v === 'true' || v === '1'),
  /** How long an `Idempotency-Key`'s answer is kept (admin-api/idempotency.ts), in seconds. */
  AGENTCORE_IDEMPOTENCY_TTL_S: z.coerce
    .number()
    .int()
    .min(1)
    .default(24 * 60 * 60),
  /** Largest request body the edge accepts, on every route (A2A bindings, read and admin APIs). */
  AGENTCORE_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024),
  /**
   * Largest message a client may send (its JSON, plus the request's metadata). The default keeps the event
   * that carries it under NATS's default max_payload (1 MiB).
   */
  AGENTCORE_MAX_MESSAGE_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(512 * 1024),
  /** Embeddings (skill discovery): an OpenAI-compatible endpoint; unset = the offline model (512-d). */
  AGENTCORE_EMBEDDINGS_URL: z.string().url().optional(),
  AGENTCORE_EMBEDDINGS_MODEL: z.string().min(1).optional(),
  AGENTCORE_EMBEDDINGS_KEY: z.string().min(1).optional(),
  /** Length of the endpoint's vectors; known for OpenAI's models, required for others. */
  AGENTCORE_EMBEDDINGS_DIMENSIONS: z.coerce.number().int().min(1).max(16_000).optional(),
  // ---- LLM agents (agents/llm.ts): an OpenAI-compatible chat completions endpoint
  AGENTCORE_LLM_URL: z.string().url().optional(),
  AGENTCORE_LLM_KEY: z.string().min(1).default('none'),
  AGENTCORE_LLM_MODEL: z.string().min(1).optional(),
  /** A JSON array of agent specs, or the path of a file holding one. */
  AGENTCORE_LLM_AGENTS: z.string().optional(),
  // ---- routing, remote agents, circuit breakers (sagas/routing.ts, agents/remote.ts, sagas/circuit-breaker.ts)
  /** The agent of tasks naming none: an in-process agent id, or `route` (routing decides). */
  AGENTCORE_DEFAULT_AGENT: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'an agent id, or "route"')
    .default('scenario'),
  /** JSON {similarity, latency, cost, quality}: the routing score's weights (missing ones keep the default). */
  AGENTCORE_ROUTING_WEIGHTS: z.string().optional(),
  /** Below this cosine a semantic-only match is no match. */
  AGENTCORE_ROUTING_MIN_SIMILARITY: z.coerce.number().min(-1).max(1).default(0.35),
  AGENTCORE_REMOTE_CALL_TIMEOUT_MS: z.coerce.number().int().min(100).default(60_000),
  /** Calls at once per remote agent, per worker process (the bulkhead). */
  AGENTCORE_REMOTE_AGENT_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(8),
  AGENTCORE_CIRCUIT_FAILURE_THRESHOLD: z.coerce.number().int().min(1).default(3),
  AGENTCORE_CIRCUIT_COOLDOWN_MS: z.coerce.number().int().min(0).default(30_000),
  // ---- size limits (commands/handle.ts, commands/workflow-limits.ts)
  /**
   * Largest serialized `data` of one event a command may append: under NATS's default max_payload (1 MiB),
   * with room for the envelope, so that every event crosses the bus (raise both together).
   */
  AGENTCORE_MAX_EVENT_BYTES: z.coerce
    .number()
    .int()
    .min(64 * 1024)
    .default(768 * 1024),
  /** Largest rendered input (and output) of a workflow step: over it, the step fails. */
  AGENTCORE_MAX_STEP_INPUT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(512 * 1024),
  /** Largest input a workflow run starts with (400 at the API). */
  AGENTCORE_MAX_RUN_INPUT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(256 * 1024),
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
  publicUrl?: string;
  workerAckWaitMs: number;
  /** Redelivery of a workflow saga's event after its process died holding it. */
  sagaAckWaitMs: number;
  allowPrivateUrls: boolean;
  /** How long an Idempotency-Key's answer is kept. */
  idempotencyTtlMs: number;
  bodyLimitBytes: number;
  maxMessageBytes: number;
  logLevel: string;
  embeddings: EmbeddingsConfig;
  routing: RoutingConfig;
  llm: LlmConfig;
  eventStreams: EventStreamLimits;
  push: PushLimits;
  /** Webhook delivery (sagas/webhook-delivery.ts): attempts, backoff, timeout, concurrency. */
  webhooks: WebhookSettings;
  /** Retention of the metrics read model's minute, hour and day rows (projections/metrics-settings.ts). */
  metrics: MetricsRetention;
  limits: SizeLimits;
}

/** Sizes past which a command, a workflow step or a run's start is refused (AGENTCORE_MAX_*_BYTES). */
export interface SizeLimits {
  maxEventBytes: number;
  maxStepInputBytes: number;
  maxRunInputBytes: number;
}

/** A step's input and a run's input (with the definition it is copied with) fit in one event. */
const sizeLimits = (e: z.infer<typeof Env>): SizeLimits => {
  const limits = {
    maxEventBytes: e.AGENTCORE_MAX_EVENT_BYTES,
    maxStepInputBytes: e.AGENTCORE_MAX_STEP_INPUT_BYTES,
    maxRunInputBytes: e.AGENTCORE_MAX_RUN_INPUT_BYTES,
  };
  if (limits.maxStepInputBytes > limits.maxEventBytes - 64 * 1024)
    throw new Error(
      'invalid configuration: AGENTCORE_MAX_STEP_INPUT_BYTES must be at least 64 KiB below AGENTCORE_MAX_EVENT_BYTES (a step input travels in one event)',
    );
  if (limits.maxRunInputBytes > limits.maxEventBytes - 128 * 1024)
    throw new Error(
      "invalid configuration: AGENTCORE_MAX_RUN_INPUT_BYTES must be at least 128 KiB below AGENTCORE_MAX_EVENT_BYTES (a run's input and its definition travel in one event)",
    );
  return limits;
};

export interface LlmConfig {
  baseURL?: string;
  apiKey: string;
  model?: string;
  agents: LlmAgentSpec[];
}

export interface RoutingConfig {
  /** AGENTCORE_DEFAULT_AGENT: an in-process agent id, or 'route'. */
  defaultAgent: string;
  routeByDefault: boolean;
  weights: { similarity: number; latency: number; cost: number; quality: number };
  minSimilarity: number;
  remoteCallTimeoutMs: number;
  remoteAgentConcurrency: number;
  circuitFailureThreshold: number;
  circuitCooldownMs: number;
}

const DEFAULT_WEIGHTS = { similarity: 0.6, latency: 0.15, cost: 0.1, quality: 0.15 };

const routingWeights = (raw: string | undefined): RoutingConfig['weights'] => {
  if (!raw?.trim()) return DEFAULT_WEIGHTS;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new Error(
      `invalid configuration: AGENTCORE_ROUTING_WEIGHTS is not JSON (${(error as Error).message})`,
    );
  }
  const weight = z.number().min(0, 'a weight must be at least 0');
  const result = z
    .strictObject({ similarity: weight, latency: weight, cost: weight, quality: weight })
    .partial()
    .safeParse(parsed);
  if (!result.success) {
    throw new Error(
      `invalid configuration: AGENTCORE_ROUTING_WEIGHTS ${describeZodIssues(result.error.issues)}`,
    );
  }
  const weights = { ...DEFAULT_WEIGHTS, ...result.data };
  if (weights.similarity + weights.latency + weights.cost + weights.quality <= 0) {
    throw new Error('invalid configuration: AGENTCORE_ROUTING_WEIGHTS must not all be 0');
  }
  return weights;
};

export type EmbeddingsConfig =
  | { kind: 'offline' }
  | { kind: 'openai'; baseURL: string; model: string; apiKey: string; dimensions: number };

/** Vector lengths of OpenAI's embedding models (others must be given AGENTCORE_EMBEDDINGS_DIMENSIONS). */
const KNOWN_DIMENSIONS: Record<string, number> = {
  'text-embedding-3-small': 1536,
  'text-embedding-3-large': 3072,
  'text-embedding-ada-002': 1536,
};

const embeddingsConfig = (e: z.infer<typeof Env>): EmbeddingsConfig => {
  const url = e.AGENTCORE_EMBEDDINGS_URL;
  const model = e.AGENTCORE_EMBEDDINGS_MODEL;
  if (!url && !model && !e.AGENTCORE_EMBEDDINGS_KEY && !e.AGENTCORE_EMBEDDINGS_DIMENSIONS)
    return { kind: 'offline' };
  if (!url || !model) {
    throw new Error(
      'invalid configuration: OpenAI-compatible embeddings need both AGENTCORE_EMBEDDINGS_URL and AGENTCORE_EMBEDDINGS_MODEL (unset all AGENTCORE_EMBEDDINGS_* for the offline model)',
    );
  }
  const dimensions = e.AGENTCORE_EMBEDDINGS_DIMENSIONS ?? KNOWN_DIMENSIONS[model];
  if (!dimensions) {
    throw new Error(
      `invalid configuration: AGENTCORE_EMBEDDINGS_DIMENSIONS is required for embeddings model "${model}"`,
    );
  }
  // Local servers (Ollama, vLLM, llama.cpp) accept any key.
  return { kind: 'openai', baseURL: url, model, apiKey: e.AGENTCORE_EMBEDDINGS_KEY ?? 'none', dimensions };
};

const llmConfig = (e: z.infer<typeof Env>): LlmConfig => {
  const where = 'invalid configuration: AGENTCORE_LLM_AGENTS';
  const source = e.AGENTCORE_LLM_AGENTS?.trim() ?? '';
  let text = source;
  // Inline JSON starts with its array (or a mistaken object); anything else names a file.
  if (source && !/^[[{]/.test(source)) {
    try {
      text = readFileSync(source, 'utf8');
    } catch (error) {
      throw new Error(`${where}: cannot read the file ${source} (${(error as Error).message})`);
    }
  }
  let raw: unknown = [];
  try {
    if (text.trim()) raw = JSON.parse(text);
  } catch (error) {
    throw new Error(`${where} is not JSON (${(error as Error).message})`);
  }
  if (!Array.isArray(raw)) throw new Error(`${where} must be a JSON array of agent specs`);
  if (raw.length > 0 && !e.AGENTCORE_LLM_URL) {
    throw new Error(
      'invalid configuration: AGENTCORE_LLM_AGENTS needs AGENTCORE_LLM_URL (an OpenAI-compatible base URL, e.g. http://127.0.0.1:11434/v1)',
    );
  }
  const agents = raw.map((spec, i) => {
    const id = (spec as { id?: unknown } | null)?.id;
    const which = `agent ${i}${typeof id === 'string' ? ` ("${id}")` : ''}`;
    const parsed = LlmAgentSpec.safeParse(spec);
    if (!parsed.success) throw new Error(`${where}: ${which}: ${describeZodIssues(parsed.error.issues)}`);
    if (!parsed.data.model && !e.AGENTCORE_LLM_MODEL) {
      throw new Error(`${where}: ${which}: model: required when AGENTCORE_LLM_MODEL is not set`);
    }
    return parsed.data;
  });
  const ids = agents.map((a) => a.id);
  const twice = ids.find((id, i) => ids.indexOf(id) !== i);
  if (twice) throw new Error(`${where}: the agent id "${twice}" is given twice`);
  return { baseURL: e.AGENTCORE_LLM_URL, apiKey: e.AGENTCORE_LLM_KEY, model: e.AGENTCORE_LLM_MODEL, agents };
};

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
    publicUrl: e.AGENTCORE_PUBLIC_URL,
    workerAckWaitMs: e.AGENTCORE_WORKER_ACK_WAIT_MS,
    sagaAckWaitMs: e.AGENTCORE_SAGA_ACK_WAIT_MS,
    allowPrivateUrls: e.AGENTCORE_ALLOW_PRIVATE_URLS,
    idempotencyTtlMs: e.AGENTCORE_IDEMPOTENCY_TTL_S * 1000,
    bodyLimitBytes: e.AGENTCORE_BODY_LIMIT_BYTES,
    maxMessageBytes: e.AGENTCORE_MAX_MESSAGE_BYTES,
    logLevel: e.LOG_LEVEL,
    embeddings: embeddingsConfig(e),
    llm: llmConfig(e),
    limits: sizeLimits(e),
    eventStreams: toEventStreamLimits(e),
    push: toPushLimits(e),
    webhooks: toWebhookSettings(e),
    metrics: toMetricsRetention(e),
    routing: {
      defaultAgent: e.AGENTCORE_DEFAULT_AGENT,
      routeByDefault: e.AGENTCORE_DEFAULT_AGENT === 'route',
      weights: routingWeights(e.AGENTCORE_ROUTING_WEIGHTS),
      minSimilarity: e.AGENTCORE_ROUTING_MIN_SIMILARITY,
      remoteCallTimeoutMs: e.AGENTCORE_REMOTE_CALL_TIMEOUT_MS,
      remoteAgentConcurrency: e.AGENTCORE_REMOTE_AGENT_CONCURRENCY,
      circuitFailureThreshold: e.AGENTCORE_CIRCUIT_FAILURE_THRESHOLD,
      circuitCooldownMs: e.AGENTCORE_CIRCUIT_COOLDOWN_MS,
    },
  };
};

export const parseRoles = (args: string[]): Role[] => {
  const wanted = args.length === 0 || args.includes('all') ? [...ROLES] : args;
  const unknown = wanted.filter((r) => !(ROLES as readonly string[]).includes(r));
  if (unknown.length)
    throw new Error(`unknown role(s) ${unknown.join(', ')}: use ${ROLES.join(', ')} or all`);
  return wanted as Role[];
};
