/** The hub's HTTP surface: agent card, A2A over JSON-RPC and HTTP+JSON, health, the read and admin APIs. */
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { requestId } from 'hono/request-id';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import pino, { type Logger } from 'pino';
import { type Authenticator, authenticate, type EdgeEnv } from '../a2a-edge/auth.ts';
import { cacheableJson, cardDialect, hubCard } from '../a2a-edge/card.ts';
import { toReportedA2AError } from '../a2a-edge/errors.ts';
import { jsonRpcHandler } from '../a2a-edge/jsonrpc.ts';
import { respondError, restRoutes } from '../a2a-edge/rest.ts';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../a2a-edge/schemas.ts';
import type { HealthCheck } from '../a2a-edge/server.ts';
import { healthRoutes } from '../a2a-edge/server.ts';
import type { A2AService } from '../a2a-edge/service.ts';
import { DEFAULT_BODY_LIMIT_BYTES } from '../a2a-edge/sse.ts';
import type { BindingOptions } from '../a2a-edge/types.ts';
import { workflowRoutes } from '../a2a-edge/workflow-endpoint.ts';
import { type IdempotencyOptions, idempotencyKeys } from '../admin-api/idempotency.ts';
import { documentAdminRoutes } from '../admin-api/openapi.ts';
import { type AdminDeps, adminRoutes } from '../admin-api/registry.ts';
import { webhookRoutes } from '../admin-api/webhooks.ts';
import type { AgentDirectory } from '../agents/directory.ts';
import type { Discovery } from '../infra/discovery/port.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import type { IdempotencyStore } from '../infra/idempotency/port.ts';
import type { EventStreamLimits } from '../infra/limits.ts';
import type { SqlDatabase } from '../infra/sql/port.ts';
import { agentRoutes } from '../read-api/agents.ts';
import { apiDocsRoutes } from '../read-api/api-docs.ts';
import { auditRoutes } from '../read-api/audit.ts';
import { eventRoutes } from '../read-api/events.ts';
import { lineageRoutes } from '../read-api/lineage.ts';
import { metricsRoutes } from '../read-api/metrics.ts';
import { taskRoutes } from '../read-api/tasks.ts';

export interface EdgeOptions {
  service: A2AService;
  auth: Authenticator;
  agents: AgentDirectory;
  /** The URL clients reach the hub at; by default the origin of each request. */
  publicUrl?: string;
  version: string;
  capabilities: { streaming: boolean; pushNotifications: boolean };
  checks: HealthCheck[];
  /** The log, for integrators' event subscriptions (read API). */
  store: EventStore;
  /** Largest request body accepted, in bytes (AGENTCORE_BODY_LIMIT_BYTES; default 1 MiB), on every route. */
  bodyLimitBytes?: number;
  /** Largest message accepted, as the bytes of its parts (AGENTCORE_MAX_MESSAGE_BYTES; default 1 MiB). */
  maxMessageBytes?: number;
  /** Where unexpected failures are logged, with their request id. */
  log?: Logger;
  /** Agent discovery, for GET /api/agents (read API). */
  discovery: Discovery;
  /** The read models' database, for the read API's queries (tasks, workflow runs, metrics, ...). */
  readModels: SqlDatabase;
  /** Caps of the integrators' event streams (AGENTCORE_*EVENT_STREAM*); absent: from the environment. */
  eventStreams?: EventStreamLimits;
  /** Answers kept by `Idempotency-Key` for the POSTs of /api (admin-api/idempotency.ts). */
  idempotency?: IdempotencyOptions & { store: IdempotencyStore };
  /** The agent registry's admin API under /api/admin (admin-api/registry.ts); absent: not served. */
  admin?: AdminDeps;
}

/**
 * hono/request-id sets the header through the context, which responses the bindings build themselves
 * (`new Response`) do not pass through: set it on whatever response leaves.
 */
const echoRequestId: MiddlewareHandler = async (c, next) => {
  await next();
  const id = c.get('requestId');
  if (c.res.headers.get('X-Request-Id') !== id) setResponseHeader(c, 'X-Request-Id', id);
};

/**
 * A body refused for its size (413) is not read: the connection is closed after the answer instead of
 * kept alive, which would make the server take in (drain) the rest of the body first. A client that sends
 * 9 MB bodies one after another then costs the hub a header each, not 9 MB of reading.
 */
const closeAfterTooLarge: MiddlewareHandler = async (c, next) => {
  await next();
  if (c.res.status === 413) setResponseHeader(c, 'Connection', 'close');
};

const setResponseHeader = (c: Context, name: string, value: string) => {
  try {
    c.res.headers.set(name, value);
  } catch {
    c.res = new Response(c.res.body, c.res); // immutable headers (a fetched response): copy
    c.res.headers.set(name, value);
  }
};

/** JSON-RPC endpoints: the hub's and each workflow's (workflow-endpoint.ts). */
const isJsonRpcPath = (path: string) => /^\/a2a\/(?:workflows\/[^/]+\/)?jsonrpc\/?$/.test(path);

/**
 * The last resort for anything a handler did not turn into an answer: a generic 500 in the shape of the
 * binding asked (JSON-RPC -32603, else google.rpc.Status INTERNAL), carrying the request id and no detail;
 * the error itself is logged with that id.
 */
const internalError = (log: Logger) => (error: Error, c: Context) => {
  const report = { log, requestId: c.get('requestId') };
  if (!isJsonRpcPath(c.req.path)) return respondError(error, report);
  const e = toReportedA2AError(error, 'JSON-RPC', report);
  const body = {
    jsonrpc: '2.0',
    id: null,
    error: { code: e.code, message: e.message, data: [e.errorInfo()] },
  };
  return c.json(body, e.http as ContentfulStatusCode);
};

/**
 * The hub's HTTP surface: agent card, A2A over JSON-RPC and HTTP+JSON, health.
 *
 * @example
 * const app = edgeApp({ service, auth, agents, version, capabilities, checks: [], store });
 * serve({ fetch: app.fetch, port: 7700 });
 */
export const edgeApp = (o: EdgeOptions) => {
  // OpenAPIHono: the read routes' schemas (read-api/openapi.ts) make the document served at /api/openapi.json.
  const app = new OpenAPIHono<EdgeEnv>();
  const log = o.log ?? pino({ name: 'a2a-edge', level: process.env.LOG_LEVEL ?? 'info' });
  // Every answer names its request (X-Request-Id: the client's when sane, else a new UUID).
  app.use('*', requestId(), echoRequestId, closeAfterTooLarge);
  app.onError(internalError(log));
  const started = new Date();
  const cardOptions = (url: string) => ({
    baseUrl: o.publicUrl ?? new URL(url).origin,
    agents: o.agents,
    version: o.version,
    ...o.capabilities,
  });
  const serveCard = (c: Context) =>
    cacheableJson(hubCard(cardOptions(c.req.url), cardDialect(c)), started)(c);
  app.get('/.well-known/agent-card.json', serveCard);
  app.get('/.well-known/agent.json', serveCard); // v0.2/v0.3 location
  app.route('/', healthRoutes(o.checks));
  const bindings: BindingOptions = {
    bodyLimitBytes: o.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    maxMessageBytes: o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    log,
    extendedCard: (c, dialect) => hubCard(cardOptions(c.req.url), dialect, true),
  };
  app.use('/a2a/*', authenticate(o.auth));
  // The card's URL, and the same with a trailing slash (some clients append one).
  const jsonRpc = jsonRpcHandler(o.service, bindings);
  app.post('/a2a/jsonrpc', jsonRpc);
  app.post('/a2a/jsonrpc/', jsonRpc);
  app.route('/a2a/rest', restRoutes(o.service, bindings));
  app.route('/a2a/workflows', workflowRoutes({ ...o, bindings }));
  app.use('/api/*', authenticate(o.auth));
  // The one body limit, before anything reads a body (the idempotency fingerprint does).
  app.use(
    '/api/*',
    bodyLimit({
      maxSize: bindings.bodyLimitBytes,
      onError: (c) =>
        c.json(
          {
            error: {
              code: 413,
              status: 'INVALID_ARGUMENT',
              message: `the body is larger than ${bindings.bodyLimitBytes} bytes (AGENTCORE_BODY_LIMIT_BYTES)`,
            },
          },
          413,
        ),
    }),
  );
  if (o.idempotency) app.use('/api/*', idempotencyKeys(o.idempotency.store, o.idempotency));
  app.route('/api', eventRoutes(o.store, o.eventStreams));
  app.route('/api', auditRoutes(o.readModels)); // GET /api/audit, /api/audit/verify (read-api/audit.ts)
  app.route('/api', agentRoutes(o.discovery)); // GET /api/agents (read-api/agents.ts)
  app.route('/api', lineageRoutes(o.readModels)); // GET /api/lineage/tasks|runs/:id (read-api/lineage.ts)
  app.route('/api', metricsRoutes(o.readModels)); // GET /api/metrics (read-api/metrics.ts)
  app.route('/api', taskRoutes({ readModels: o.readModels, store: o.store })); // GET /api/tasks, /api/workflow-runs (read-api/tasks.ts)
  if (o.admin) app.route('/api/admin/webhooks', webhookRoutes(o.admin)); // admin-api/webhooks.ts
  if (o.admin) app.route('/api/admin', adminRoutes(o.admin)); // agent registry admin (admin-api/registry.ts)
  if (o.admin) documentAdminRoutes(app.openAPIRegistry); // admin-api/openapi.ts
  app.doc31('/api/openapi.json', (c) => ({
    openapi: '3.1.0',
    info: { title: 'AgentCore read and admin API', version: o.version },
    servers: [{ url: o.publicUrl ?? new URL(c.req.url).origin }],
    security: [{ apiKey: [] }, { bearer: [] }] as Array<Record<string, string[]>>,
  }));
  app.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', {
    type: 'apiKey',
    in: 'header',
    name: 'X-API-Key',
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  app.route('/api', apiDocsRoutes()); // GET /api/docs (read-api/api-docs.ts)
  return app;
};
