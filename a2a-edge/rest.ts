/**
 * The HTTP+JSON (REST) binding of A2A v1.0 (A2A.md §1.2): the same operations as JSON-RPC, routed by path.
 * Every route also answers under a `/{tenant}/` prefix, which names the tenant the call acts for.
 *
 * Paths such as `/tasks/{id}:cancel` carry a verb after a colon inside a segment, which Hono's router reads
 * as a parameter, so the binding routes by itself: one catch-all handler splits the path into segments
 * (percent-decoded), and a verb is split off the last `:` only when it is one this binding knows.
 *
 * Answers are `application/a2a+json`; errors are google.rpc.Status JSON with the HTTP status of §1.6.
 * Streams are SSE with one bare StreamResponse per `data:` line, ended as the JSON-RPC binding ends them:
 * SendStreamingMessage at a terminal or interrupted state, SubscribeToTask only at a terminal one.
 *
 * The body, query and path are checked as JSON-RPC params are (schemas.ts): hostile input refused naming
 * the field, proto field names (`page_size`, `context_id`) read as lowerCamelCase.
 */
import { type Context, Hono } from 'hono';
import { basePath } from 'hono/route';
import { callerOf, type EdgeEnv } from './auth.ts';
import { A2AError, type ErrorReport, toReportedA2AError } from './errors.ts';
import { checkClientMessage, checkRequestJson, protoJsonKeys } from './schemas.ts';
import type { A2AService, Caller, StreamItem } from './service.ts';
import {
  BodyNotUtf8,
  BodyTooLarge,
  isJsonContentType,
  lastEventId,
  majorMinor,
  readBody,
  requestedVersion,
  sseResponse,
  streamAbort,
} from './sse.ts';
import type { BindingOptions } from './types.ts';

const CONTENT_TYPE = 'application/a2a+json';
type Params = Record<string, unknown>;

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': CONTENT_TYPE, ...headers } });

const statusBody = (error: A2AError) => ({
  error: { code: error.http, status: error.status, message: error.message, details: [error.errorInfo()] },
});

/** A REST error response (google.rpc.Status shape) for anything thrown; `report` logs unexpected ones. */
export const respondError = (error: unknown, report: ErrorReport = {}) => {
  const e = toReportedA2AError(error, 'REST', report);
  return json(statusBody(e), e.http, e.reason === 'UNAUTHENTICATED' ? { 'WWW-Authenticate': 'Bearer' } : {});
};

interface Call {
  c: Context<EdgeEnv>;
  service: A2AService;
  options: BindingOptions;
  caller: Caller;
  /** The JSON body (POST), `{}` when empty. */
  body: Params;
  /** Query parameters, empty values left out. */
  query: Params;
  /** Named path segments. */
  path: Record<string, string>;
}

interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** Literal segments, `{name}` captures a segment, `{name}:verb` a segment ending in `:verb`. */
  pattern: string[];
  stream?: boolean;
  /** Its body carries a client's message (checkClientMessage). */
  sendsMessage?: boolean;
  run: (call: Call, signal: AbortSignal) => Promise<unknown>;
}

const ROUTES: Route[] = [
  {
    method: 'POST',
    pattern: ['message:send'],
    sendsMessage: true,
    run: (x) => x.service.sendMessage(x.caller, x.body),
  },
  {
    method: 'POST',
    pattern: ['message:stream'],
    stream: true,
    sendsMessage: true,
    run: (x, signal) => x.service.sendStreamingMessage(x.caller, x.body, signal),
  },
  { method: 'GET', pattern: ['tasks'], run: (x) => x.service.listTasks(x.caller, x.query) },
  {
    method: 'GET',
    pattern: ['tasks', '{id}'],
    run: (x) => x.service.getTask(x.caller, { ...x.query, id: x.path.id }),
  },
  {
    method: 'POST',
    pattern: ['tasks', '{id}:cancel'],
    run: (x) => x.service.cancelTask(x.caller, { ...x.body, id: x.path.id }),
  },
  ...(['POST', 'GET'] as const).map(
    (method): Route => ({
      method,
      pattern: ['tasks', '{id}:subscribe'],
      stream: true,
      // As on JSON-RPC: a subscriber sees an input-required task go on to its end.
      run: (x, signal) =>
        x.service.subscribeToTask(x.caller, { id: x.path.id }, signal, lastEventId(x.c), false),
    }),
  ),
  {
    method: 'POST',
    pattern: ['tasks', '{taskId}', 'pushNotificationConfigs'],
    run: (x) => x.service.createPushConfig(x.caller, { ...x.body, taskId: x.path.taskId }),
  },
  {
    method: 'GET',
    pattern: ['tasks', '{taskId}', 'pushNotificationConfigs'],
    run: (x) => x.service.listPushConfigs(x.caller, { ...x.query, taskId: x.path.taskId }),
  },
  {
    method: 'GET',
    pattern: ['tasks', '{taskId}', 'pushNotificationConfigs', '{id}'],
    run: (x) => x.service.getPushConfig(x.caller, { taskId: x.path.taskId, id: x.path.id }),
  },
  {
    method: 'DELETE',
    pattern: ['tasks', '{taskId}', 'pushNotificationConfigs', '{id}'],
    run: (x) => x.service.deletePushConfig(x.caller, { taskId: x.path.taskId, id: x.path.id }),
  },
  { method: 'GET', pattern: ['extendedAgentCard'], run: async (x) => x.options.extendedCard(x.c, '1.0') },
];

/** The captures when `segments` match `pattern`, else null. */
const match = (pattern: string[], segments: string[]): Record<string, string> | null => {
  if (pattern.length !== segments.length) return null;
  const captured: Record<string, string> = {};
  for (const [i, p] of pattern.entries()) {
    const s = segments[i]!;
    const capture = p.match(/^\{(\w+)\}(?::(\w+))?$/);
    if (!capture) {
      if (p !== s) return null;
      continue;
    }
    const [, name, verb] = capture;
    const cut = s.lastIndexOf(':');
    if (verb) {
      if (cut <= 0 || s.slice(cut + 1) !== verb) return null;
      captured[name!] = s.slice(0, cut);
    } else {
      // `/tasks/{id}` must not swallow `/tasks/{id}:cancel`: a known verb makes it another route.
      if (cut > 0 && ['cancel', 'subscribe'].includes(s.slice(cut + 1))) return null;
      if (s === '') return null;
      captured[name!] = s;
    }
  }
  return captured;
};

/** The routes whose path matches, unprefixed first, then with the first segment as the tenant. */
const lookup = (segments: string[]) => {
  for (const [tenant, rest] of [
    [undefined, segments],
    [segments[0], segments.slice(1)],
  ] as const) {
    if (tenant === '') continue;
    const found = ROUTES.flatMap((route) => {
      const path = match(route.pattern, rest);
      return path ? [{ route, path }] : [];
    });
    if (found.length) return { tenant, found };
  }
  return null;
};

const queryParams = (c: Context): Params =>
  Object.fromEntries(Object.entries(c.req.query()).filter(([, v]) => v !== ''));

/** Body, query and path captures as the service reads them (see the file comment). */
const prepareCall = (
  route: Route,
  body: Params,
  query: Params,
  path: Record<string, string>,
  max: number,
) => {
  checkRequestJson(path);
  checkRequestJson(query);
  checkRequestJson(body);
  const prepared = { body: protoJsonKeys(body) as Params, query: protoJsonKeys(query) as Params };
  if (route.sendsMessage) checkClientMessage(prepared.body, max);
  return prepared;
};

export const restRoutes = (service: A2AService, options: BindingOptions) => {
  const app = new Hono<EdgeEnv>();
  app.all('*', async (c) => {
    const report = { log: options.log, requestId: c.get('requestId') };
    const fail = (error: unknown) => respondError(error, report);
    const base = basePath(c);
    const pathname = new URL(c.req.url).pathname;
    const relative = pathname.startsWith(base) ? pathname.slice(base.length) : pathname;
    let segments: string[];
    try {
      segments = relative
        .split('/')
        .filter((s, i) => i > 0 || s !== '')
        .map(decodeURIComponent);
    } catch {
      return fail(new A2AError('INVALID_REQUEST', 'The path is not valid percent-encoding'));
    }
    if (segments.at(-1) === '') segments.pop(); // a trailing slash
    const hit = lookup(segments);
    if (!hit)
      return fail(new A2AError('METHOD_NOT_FOUND', `No A2A operation at ${c.req.method} ${relative}`));
    const method = c.req.method === 'HEAD' ? 'GET' : c.req.method;
    const chosen = hit.found.find((f) => f.route.method === method);
    if (!chosen) {
      const allow = [...new Set(hit.found.map((f) => f.route.method))].join(', ');
      return json(
        {
          error: {
            code: 405,
            status: 'UNIMPLEMENTED',
            message: `${c.req.method} is not allowed here; use ${allow}`,
            details: [],
          },
        },
        405,
        { Allow: allow },
      );
    }

    const requested = requestedVersion(c);
    if (requested !== '' && majorMinor(requested) !== '1.0') {
      return fail(
        new A2AError(
          'VERSION_NOT_SUPPORTED',
          `The requested A2A protocol version '${requested}' is not supported. Supported versions: 1.0`,
          { requestedVersion: requested, supportedVersions: '1.0' },
        ),
      );
    }

    let body: Params = {};
    if (method === 'POST') {
      const contentType = c.req.header('content-type');
      if (!isJsonContentType(contentType)) {
        return fail(
          new A2AError(
            'CONTENT_TYPE_NOT_SUPPORTED',
            `Content-Type ${contentType} is not supported: send application/a2a+json or application/json`,
            { contentType: contentType ?? '' },
          ),
        );
      }
      let text: string;
      try {
        text = await readBody(c.req.raw, options.bodyLimitBytes);
      } catch (error) {
        if (error instanceof BodyTooLarge) return fail(new A2AError('PAYLOAD_TOO_LARGE', error.message));
        if (error instanceof BodyNotUtf8) return fail(new A2AError('PARSE_ERROR', error.message));
        throw error;
      }
      if (text.trim() !== '') {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          return fail(new A2AError('PARSE_ERROR', 'The body is not valid JSON'));
        }
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
          return fail(new A2AError('INVALID_REQUEST', 'The body must be a JSON object'));
        }
        body = parsed as Params;
      }
    }

    let caller: Caller;
    let prepared: { body: Params; query: Params };
    try {
      prepared = prepareCall(chosen.route, body, queryParams(c), chosen.path, options.maxMessageBytes);
      const { query } = prepared;
      // The tenant a call acts for: the path prefix, else the request's `tenant` field (body or query).
      const named = [prepared.body.tenant, query.tenant].find(
        (t): t is string => typeof t === 'string' && t !== '',
      );
      caller = callerOf(c, hit.tenant ?? named);
    } catch (error) {
      return fail(error);
    }
    const call: Call = { c, service, options, caller, ...prepared, path: chosen.path };

    if (!chosen.route.stream) {
      try {
        const result = await chosen.route.run(call, new AbortController().signal);
        return json(result ?? {});
      } catch (error) {
        return fail(error);
      }
    }
    // Streams: errors before the first event are plain error responses.
    const abort = streamAbort(c);
    let items: AsyncIterable<StreamItem>;
    try {
      items = (await chosen.route.run(call, abort.signal)) as AsyncIterable<StreamItem>;
    } catch (error) {
      abort.abort();
      return fail(error);
    }
    return sseResponse({
      items,
      abort,
      frame: (item) => item.response,
      frameError: (error) => statusBody(toReportedA2AError(error, 'REST', report)),
    });
  });
  return app;
};
