/**
 * The admin API in the OpenAPI document: each route of admin-api/registry.ts, workflows.ts and webhooks.ts
 * with the zod schema its body is validated with (the use cases parse with the same schemas).
 */
import type { OpenAPIHono, RouteConfig } from '@hono/zod-openapi';
import { z } from 'zod';
import { DisableAgentInput, RegisterRemoteAgentInput, UpdateAgentInput } from '../agents/registry.ts';
import { WorkflowDefinition } from '../events/workflow-definition.ts';
import { RedriveInput, ReplayInput, SubscribeInput } from './webhook-operations.ts';
import { StartRunInput } from './workflows.ts';

const AdminError = z.object({
  error: z.object({
    code: z.number().int(),
    status: z.string(),
    message: z.string(),
    reason: z.string().optional(),
  }),
});
const json = (schema: z.ZodType) => ({ content: { 'application/json': { schema } } });
const anObject = z.record(z.string(), z.unknown());
const errors = {
  400: { description: 'Invalid input; the message names the field', ...json(AdminError) },
  401: { description: 'No valid API key', ...json(AdminError) },
  403: { description: 'Not allowed (another tenant, or a built-in agent)', ...json(AdminError) },
  404: { description: 'No such resource for this tenant', ...json(AdminError) },
  409: { description: 'Already there, or a conflicting state', ...json(AdminError) },
};
const idempotencyKey = z.object({
  'idempotency-key': z.string().optional().describe('A retried request with the same key is applied once'),
});

type Method = RouteConfig['method'];
interface AdminRoute {
  method: Method;
  path: string;
  summary: string;
  body?: z.ZodType;
  params?: z.ZodObject;
  ok?: { status: number; description: string; schema?: z.ZodType };
}

const id = z.object({ id: z.string() });
const name = z.object({ name: z.string() });
const ROUTES: AdminRoute[] = [
  {
    method: 'post',
    path: '/agents',
    summary: 'Register a remote A2A agent by its card URL',
    body: RegisterRemoteAgentInput,
    ok: { status: 201, description: 'The agent' },
  },
  {
    method: 'get',
    path: '/agents',
    summary: "The tenant's agents and the built-in ones",
    ok: { status: 200, description: '{agents}', schema: z.object({ agents: z.array(anObject) }) },
  },
  { method: 'get', path: '/agents/{id}', summary: 'One agent, card included', params: id },
  {
    method: 'patch',
    path: '/agents/{id}',
    summary: 'Change cost or description',
    params: id,
    body: UpdateAgentInput,
  },
  {
    method: 'post',
    path: '/agents/{id}/disable',
    summary: 'Stop routing to the agent',
    params: id,
    body: DisableAgentInput,
  },
  { method: 'post', path: '/agents/{id}/enable', summary: 'Route to the agent again', params: id },
  { method: 'post', path: '/agents/{id}/refresh', summary: "Fetch the agent's card again", params: id },
  {
    method: 'delete',
    path: '/agents/{id}',
    summary: 'Deregister the agent',
    params: id,
    ok: { status: 204, description: 'Deregistered' },
  },
  {
    method: 'post',
    path: '/workflows',
    summary: 'Define a workflow (a new version if it changed)',
    body: WorkflowDefinition,
    ok: { status: 201, description: '{name, version}' },
  },
  { method: 'get', path: '/workflows/{name}', summary: "A workflow's latest version", params: name },
  {
    method: 'post',
    path: '/workflows/{name}/runs',
    summary: 'Start a run',
    params: name,
    body: StartRunInput,
    ok: { status: 202, description: '{runId, version}' },
  },
  {
    method: 'get',
    path: '/workflow-runs/{id}',
    summary: 'One run (also GET /api/workflow-runs/{id})',
    params: id,
  },
  {
    method: 'post',
    path: '/webhooks',
    summary: 'Subscribe a webhook (the secret is shown once)',
    body: SubscribeInput,
    ok: { status: 201, description: 'The subscription and its secret' },
  },
  {
    method: 'get',
    path: '/webhooks',
    summary: "The tenant's webhook subscriptions",
    ok: { status: 200, description: '{webhooks}', schema: z.object({ webhooks: z.array(anObject) }) },
  },
  {
    method: 'get',
    path: '/webhooks/{id}',
    summary: 'One subscription: state, position, dead letters',
    params: id,
  },
  {
    method: 'post',
    path: '/webhooks/{id}/pause',
    summary: 'Stop delivering (the position is kept)',
    params: id,
  },
  {
    method: 'post',
    path: '/webhooks/{id}/resume',
    summary: 'Deliver again from where it stopped',
    params: id,
  },
  {
    method: 'post',
    path: '/webhooks/{id}/replay',
    summary: 'Deliver again from a log position',
    params: id,
    body: ReplayInput,
    ok: { status: 202, description: 'The subscription' },
  },
  {
    method: 'get',
    path: '/webhooks/{id}/dead-letters',
    summary: 'Events given up on',
    params: id,
    ok: { status: 200, description: '{deadLetters}', schema: z.object({ deadLetters: z.array(anObject) }) },
  },
  {
    method: 'post',
    path: '/webhooks/{id}/dead-letters/redrive',
    summary: 'Deliver dead letters again (all, or eventIds)',
    params: id,
    body: RedriveInput,
    ok: { status: 202, description: '{redriven}' },
  },
  {
    method: 'delete',
    path: '/webhooks/{id}',
    summary: 'Unsubscribe',
    params: id,
    ok: { status: 204, description: 'Unsubscribed' },
  },
];

/** Adds the admin routes, under `prefix` (`/api/admin`), to an OpenAPI registry. */
export const documentAdminRoutes = (registry: OpenAPIHono['openAPIRegistry'], prefix = '/api/admin') => {
  for (const r of ROUTES) {
    const ok = r.ok ?? { status: 200, description: 'The resource' };
    registry.registerPath({
      method: r.method,
      path: `${prefix}${r.path}`,
      tags: ['admin'],
      summary: r.summary,
      request: {
        ...(r.params ? { params: r.params } : {}),
        ...(r.method === 'get' ? {} : { headers: idempotencyKey }),
        ...(r.body ? { body: { required: true, ...json(r.body) } } : {}),
      },
      responses: {
        [ok.status]: {
          description: ok.description,
          ...(ok.status === 204 ? {} : json(ok.schema ?? anObject)),
        },
        ...errors,
      },
    });
  }
};
