import { type Context, Hono } from 'hono';
import type { AgentDirectory } from '../agents/directory.ts';
import type { Discovery } from '../infra/discovery/port.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import type { IdempotencyStore } from '../infra/idempotency/port.ts';
import { type AdminDeps, adminRoutes } from '../read-api/admin.ts';
import { agentRoutes } from '../read-api/agents.ts';
import { eventRoutes } from '../read-api/events.ts';
import { type IdempotencyOptions, idempotencyKeys } from '../read-api/idempotency.ts';
import { type Authenticator, authenticate, type EdgeEnv } from './auth.ts';
import { cacheableJson, hubCard } from './card.ts';
import { jsonRpcHandler } from './jsonrpc.ts';
import { restRoutes } from './rest.ts';
import type { HealthCheck } from './server.ts';
import { healthRoutes } from './server.ts';
import type { A2AService } from './service.ts';
import { workflowRoutes } from './workflow-endpoint.ts';

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
  /** Largest request body accepted, in bytes. */
  bodyLimitBytes?: number;
  /** Agent discovery, for GET /api/agents (read API). */
  discovery: Discovery;
  /** Answers kept by `Idempotency-Key` for the POSTs of /api (read-api/idempotency.ts). */
  idempotency?: IdempotencyOptions & { store: IdempotencyStore };
  /** The agent registry's admin API under /api/admin (read-api/admin.ts); absent: not served. */
  admin?: AdminDeps;
}

/** What the bindings need besides the service. */
export interface BindingOptions {
  bodyLimitBytes: number;
  extendedCard: (c: Context) => unknown;
}

/** The hub's HTTP surface: agent card, A2A over JSON-RPC and HTTP+JSON, health. */
export const edgeApp = (o: EdgeOptions) => {
  const app = new Hono<EdgeEnv>();
  const started = new Date();
  const cardOptions = (url: string) => ({
    baseUrl: o.publicUrl ?? new URL(url).origin,
    agents: o.agents,
    version: o.version,
    ...o.capabilities,
  });
  const serveCard = (c: Context) => cacheableJson(hubCard(cardOptions(c.req.url)), started)(c);
  app.get('/.well-known/agent-card.json', serveCard);
  app.get('/.well-known/agent.json', serveCard); // v0.2/v0.3 location
  app.route('/', healthRoutes(o.checks));
  const bindings: BindingOptions = {
    bodyLimitBytes: o.bodyLimitBytes ?? 10 * 1024 * 1024,
    extendedCard: (c) => hubCard(cardOptions(c.req.url), true),
  };
  app.use('/a2a/*', authenticate(o.auth));
  app.post('/a2a/jsonrpc', jsonRpcHandler(o.service, bindings));
  app.route('/a2a/rest', restRoutes(o.service, bindings));
  app.route('/a2a/workflows', workflowRoutes({ ...o, bindings }));
  app.use('/api/*', authenticate(o.auth));
  if (o.idempotency) app.use('/api/*', idempotencyKeys(o.idempotency.store, o.idempotency));
  app.route('/api', eventRoutes(o.store));
  app.route('/api', agentRoutes(o.discovery)); // GET /api/agents (read-api/agents.ts)
  if (o.admin) app.route('/api/admin', adminRoutes(o.admin)); // agent registry admin (read-api/admin.ts)
  return app;
};
