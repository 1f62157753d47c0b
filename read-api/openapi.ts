/**
 * The read API's router: routes declared with zod schemas (@hono/zod-openapi), which validate each request and
 * make the OpenAPI 3.1 document served at /api/openapi.json; failures answer in the API's error shape.
 */
import { createRoute, OpenAPIHono, type RouteConfig } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { z } from 'zod';
import { callerOf, type EdgeEnv } from '../a2a-edge/auth.ts';
import { A2AError } from '../a2a-edge/errors.ts';
import { tenantId } from '../events/envelope.ts';
import { describeZodIssues } from '../events/issues.ts';

/** Every error of /api: `{error: {code, status, message}}`, the HTTP status and a google.rpc status name. */
export const ApiError = z.object({
  error: z.object({ code: z.number().int(), status: z.string(), message: z.string() }),
});
export type ApiError = z.infer<typeof ApiError>;

export const apiError = (code: number, status: string, message: string): ApiError => ({
  error: { code, status, message },
});

const errorBody = (description: string) => ({
  description,
  content: { 'application/json': { schema: ApiError } },
});

/** The errors every /api read may answer, for a route's `responses`. */
export const readErrors = {
  400: errorBody('A parameter is malformed, unknown or out of range; the message names it'),
  401: errorBody('No valid API key'),
  403: errorBody('The key may not act for the tenant asked for'),
};
export const notFoundError = { 404: errorBody('No such resource for this tenant') };

/** The caller's tenant, or the 401/403 answer: before any parameter is looked at, so 401 comes before 400. */
const requireCaller: MiddlewareHandler<EdgeEnv> = async (c, next) => {
  const requested = c.req.query('tenant');
  try {
    // A malformed tenant is the validator's 400 (naming it), not a 403 for a tenant that cannot exist.
    callerOf(c, requested === undefined || tenantId.safeParse(requested).success ? requested : undefined);
  } catch (err) {
    if (!(err instanceof A2AError)) throw err;
    return c.json(apiError(err.http, err.status, err.message), err.http as 401 | 403);
  }
  await next();
};

/** The tenant a read is scoped to: the key's, or `tenant` when the key may act for it (checked already). */
export const tenantOf = (c: Context<EdgeEnv>) => callerOf(c, c.req.query('tenant')).tenant;

/**
 * A read route: its zod schemas validate the request (a failure is a 400 naming the parameter) and document
 * it; the caller is authenticated first. The check is the route's own middleware, not the router's: a
 * router's `use('*')` would run for every path under its mount point, other routers' routes included.
 *
 * @example
 * app.openapi(readRoute({ method: 'get', path: '/things', request: { query }, responses }), handler);
 */
export const readRoute = <R extends RouteConfig>(config: R) =>
  createRoute({ ...config, middleware: [requireCaller] as const });

/** A router for read routes, answering a failed validation in the API's error shape. */
export const readRouter = () =>
  new OpenAPIHono<EdgeEnv>({
    defaultHook: (result, c) => {
      if (!result.success)
        return c.json(apiError(400, 'INVALID_ARGUMENT', describeZodIssues(result.error.issues)), 400);
    },
  });
