/**
 * The JSON-RPC 2.0 binding (A2A.md §1.2, §1.6, §1.8), v1.0 and v0.3.
 *
 * Versions: `A2A-Version: 1.0` (header, or `?A2A-Version=`) asks for v1.0 and then only the v1.0 method
 * names exist. No header (or an empty one, or `0.3`) means v0.3, as the spec requires: the v0.3 names are
 * served with v0.3 shapes (translated by v03.ts). Leniency: a v1.0 method name without the header is
 * served as v1.0 anyway, since a v0.3 peer cannot mean anything else by it and v1.0 clients that forget
 * the header still work. Any other version is refused with VersionNotSupported (-32009).
 *
 * Transport errors keep HTTP statuses (413 too large, 401 unauthenticated, 403 acting for a tenant the key
 * may not); every other answer, errors included, is HTTP 200 with the JSON-RPC error in the body.
 *
 * Params are checked before anything reads them (schemas.ts): hostile strings, nesting and id lengths are
 * refused naming the field, proto field names (`task_id`) are read as lowerCamelCase, and a message must be
 * a client's (ROLE_USER) and within the maximum message size.
 */
import type { Context } from 'hono';
import { callerOf, type EdgeEnv } from './auth.ts';
import { A2AError, type A2AReason, toReportedA2AError } from './errors.ts';
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
import * as v03 from './v03.ts';

type JsonRpcId = string | number | null;
type Params = Record<string, unknown>;
/** How errors carry ErrorInfo: v1.0 as an array in `data`, v0.3 as one free-form object. */
type Dialect = 'v1' | 'v03';

export const SUPPORTED_VERSIONS = ['1.0', '0.3'] as const;

interface Ctx {
  service: A2AService;
  options: BindingOptions;
  c: Context<EdgeEnv>;
  caller: Caller;
  dialect: Dialect;
}

interface Unary {
  kind: 'unary';
  run: (x: Ctx, params: Params) => Promise<unknown>;
  /** Its params carry a client's message (checkClientMessage). */
  sendsMessage?: boolean;
}
interface Streaming {
  kind: 'stream';
  run: (x: Ctx, params: Params, signal: AbortSignal) => Promise<AsyncIterable<StreamItem>>;
  sendsMessage?: boolean;
}
type Operation = Unary | Streaming;

/** The v1.0 operations, by their v1.0 method name. */
const V1: Record<string, Operation> = {
  SendMessage: { kind: 'unary', sendsMessage: true, run: (x, p) => x.service.sendMessage(x.caller, p) },
  SendStreamingMessage: {
    kind: 'stream',
    sendsMessage: true,
    run: (x, p, signal) => x.service.sendStreamingMessage(x.caller, p, signal),
  },
  GetTask: { kind: 'unary', run: (x, p) => x.service.getTask(x.caller, p) },
  ListTasks: { kind: 'unary', run: (x, p) => x.service.listTasks(x.caller, p) },
  CancelTask: { kind: 'unary', run: (x, p) => x.service.cancelTask(x.caller, p) },
  SubscribeToTask: {
    kind: 'stream',
    run: (x, p, signal) => x.service.subscribeToTask(x.caller, p, signal, lastEventId(x.c), false),
  },
  CreateTaskPushNotificationConfig: { kind: 'unary', run: (x, p) => x.service.createPushConfig(x.caller, p) },
  GetTaskPushNotificationConfig: { kind: 'unary', run: (x, p) => x.service.getPushConfig(x.caller, p) },
  ListTaskPushNotificationConfigs: { kind: 'unary', run: (x, p) => x.service.listPushConfigs(x.caller, p) },
  DeleteTaskPushNotificationConfig: { kind: 'unary', run: (x, p) => x.service.deletePushConfig(x.caller, p) },
  GetExtendedAgentCard: {
    kind: 'unary',
    run: async (x) => x.options.extendedCard(x.c, x.dialect === 'v1' ? '1.0' : '0.3'),
  },
};

/** A v0.3 method: the v1.0 operation it is, and how its params and results are translated. */
interface V03Method {
  v1: keyof typeof V1;
  params?: (p: Params) => unknown;
  result?: (r: never) => unknown;
}
const V03: Record<string, V03Method> = {
  'message/send': { v1: 'SendMessage', params: v03.sendParamsToV1, result: v03.sendResultToV03 },
  'message/stream': { v1: 'SendStreamingMessage', params: v03.sendParamsToV1 },
  'tasks/get': { v1: 'GetTask', result: v03.taskToV03 },
  'tasks/cancel': { v1: 'CancelTask', result: v03.taskToV03 },
  'tasks/resubscribe': { v1: 'SubscribeToTask' },
  'tasks/pushNotificationConfig/set': {
    v1: 'CreateTaskPushNotificationConfig',
    params: v03.setPushConfigParamsToV1,
    result: v03.pushConfigToV03,
  },
  'tasks/pushNotificationConfig/get': {
    v1: 'GetTaskPushNotificationConfig',
    params: v03.pushConfigRefToV1,
    result: v03.pushConfigToV03,
  },
  'tasks/pushNotificationConfig/list': {
    v1: 'ListTaskPushNotificationConfigs',
    params: v03.listPushConfigsParamsToV1,
    result: (r: { configs: Parameters<typeof v03.pushConfigToV03>[0][] }) =>
      r.configs.map(v03.pushConfigToV03),
  },
  'tasks/pushNotificationConfig/delete': {
    v1: 'DeleteTaskPushNotificationConfig',
    params: v03.pushConfigRefToV1,
    result: () => null,
  },
  'agent/getAuthenticatedExtendedCard': { v1: 'GetExtendedAgentCard' },
};

interface Resolved {
  name: string;
  operation: Operation;
  dialect: Dialect;
  params: (p: Params) => unknown;
  result: (r: unknown) => unknown;
  item: (item: StreamItem) => unknown;
}

const identity = (x: unknown) => x;

const resolve = (method: string, version: '1.0' | '0.3'): Resolved | null => {
  const v1 = Object.hasOwn(V1, method) ? V1[method] : undefined;
  if (v1)
    return {
      name: method,
      operation: v1,
      dialect: 'v1',
      params: identity,
      result: identity,
      item: (i) => i.response,
    };
  if (version === '1.0' || !Object.hasOwn(V03, method)) return null;
  const m = V03[method]!;
  return {
    name: method,
    operation: V1[m.v1]!,
    dialect: 'v03',
    params: m.params ?? identity,
    result: (m.result as ((r: unknown) => unknown) | undefined) ?? identity,
    item: (i) => v03.streamResponseToV03(i.response),
  };
};

const errorObject = (error: A2AError, dialect: Dialect) => ({
  code: error.code,
  message: error.message,
  data: dialect === 'v1' ? [error.errorInfo()] : error.errorInfo(),
});

/** Only transport failures change the HTTP status; protocol errors travel in a 200 response. */
const TRANSPORT_STATUSES: ReadonlySet<A2AReason> = new Set([
  'UNAUTHENTICATED',
  'PERMISSION_DENIED',
  'PAYLOAD_TOO_LARGE',
]);

const respondError = (id: JsonRpcId, error: A2AError, dialect: Dialect): Response => {
  const status = TRANSPORT_STATUSES.has(error.reason) ? error.http : 200;
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (error.reason === 'UNAUTHENTICATED') headers['WWW-Authenticate'] = 'Bearer';
  return new Response(JSON.stringify({ jsonrpc: '2.0', id, error: errorObject(error, dialect) }), {
    status,
    headers,
  });
};

const invalidRequest = (message: string) => new A2AError('INVALID_REQUEST', message);

/** The params as the service reads them: checked, lowerCamelCase, translated from v0.3, a client's message. */
const prepareParams = (resolved: Resolved, params: Params, options: BindingOptions): Params => {
  checkRequestJson(params);
  const v1Params = resolved.params(protoJsonKeys(params) as Params) as Params;
  if (resolved.operation.sendsMessage) checkClientMessage(v1Params, options.maxMessageBytes);
  return v1Params;
};

export const jsonRpcHandler =
  (service: A2AService, options: BindingOptions) =>
  async (c: Context<EdgeEnv>): Promise<Response> => {
    const requested = requestedVersion(c);
    const mm = majorMinor(requested);
    const version = mm === '1.0' ? '1.0' : mm === '' || mm === '0.3' ? '0.3' : null;
    // Until the method is known, errors are framed as the requested version frames them.
    let dialect: Dialect = version === '0.3' ? 'v03' : 'v1';
    let id: JsonRpcId = null;
    const asA2AError = (error: unknown) =>
      toReportedA2AError(error, 'JSON-RPC', { log: options.log, requestId: c.get('requestId') });

    const contentType = c.req.header('content-type');
    if (!isJsonContentType(contentType)) {
      const error = new A2AError(
        'CONTENT_TYPE_NOT_SUPPORTED',
        `Content-Type ${contentType} is not supported: send application/json or application/a2a+json`,
        { contentType: contentType ?? '' },
      );
      return respondError(null, error, dialect);
    }

    let request: unknown;
    try {
      const text = await readBody(c.req.raw, options.bodyLimitBytes);
      request = JSON.parse(text);
    } catch (error) {
      if (error instanceof BodyTooLarge)
        return respondError(null, new A2AError('PAYLOAD_TOO_LARGE', error.message), dialect);
      const message =
        error instanceof BodyNotUtf8 ? error.message : 'Parse error: the body is not valid JSON';
      return respondError(null, new A2AError('PARSE_ERROR', message), dialect);
    }
    if (Array.isArray(request)) {
      return respondError(null, invalidRequest('Invalid Request: batch requests are not supported'), dialect);
    }
    if (typeof request !== 'object' || request === null) {
      return respondError(
        null,
        invalidRequest('Invalid Request: the request must be a JSON object'),
        dialect,
      );
    }
    const r = request as Record<string, unknown>;
    if (typeof r.id === 'string' || (typeof r.id === 'number' && Number.isFinite(r.id))) id = r.id;
    else
      return respondError(null, invalidRequest('Invalid Request: id must be a string or a number'), dialect);
    if (r.jsonrpc !== '2.0')
      return respondError(id, invalidRequest('Invalid Request: jsonrpc must be "2.0"'), dialect);
    if (typeof r.method !== 'string' || r.method === '') {
      return respondError(id, invalidRequest('Invalid Request: method must be a non-empty string'), dialect);
    }
    if (
      r.params !== undefined &&
      (typeof r.params !== 'object' || r.params === null || Array.isArray(r.params))
    ) {
      return respondError(id, invalidRequest('Invalid Request: params must be an object'), dialect);
    }
    const params = (r.params ?? {}) as Params;
    if (version === null) {
      return respondError(
        id,
        new A2AError(
          'VERSION_NOT_SUPPORTED',
          `The requested A2A protocol version '${requested}' is not supported. Supported versions: ${SUPPORTED_VERSIONS.join(', ')}`,
          { requestedVersion: requested, supportedVersions: SUPPORTED_VERSIONS.join(',') },
        ),
        dialect,
      );
    }
    const resolved = resolve(r.method, version);
    if (!resolved) {
      const hint =
        version === '1.0' && Object.hasOwn(V03, r.method)
          ? ` (a v0.3 method; with A2A-Version 1.0 use ${V03[r.method]!.v1})`
          : '';
      return respondError(
        id,
        new A2AError('METHOD_NOT_FOUND', `Method not found: ${r.method}${hint}`),
        dialect,
      );
    }
    dialect = resolved.dialect;

    let caller: Caller;
    try {
      caller = callerOf(c, typeof params.tenant === 'string' ? params.tenant : undefined);
    } catch (error) {
      return respondError(id, asA2AError(error), dialect);
    }
    const x: Ctx = { service, options, c, caller, dialect };
    let v1Params: Params;
    try {
      v1Params = prepareParams(resolved, params, options);
    } catch (error) {
      return respondError(id, asA2AError(error), dialect);
    }
    const { operation } = resolved;

    if (operation.kind === 'unary') {
      try {
        const result = resolved.result(await operation.run(x, v1Params));
        return c.json({ jsonrpc: '2.0', id, result: result ?? null });
      } catch (error) {
        return respondError(id, asA2AError(error), dialect);
      }
    }

    // Streams: anything wrong before the first event is a plain JSON-RPC error, not an event stream.
    const abort = streamAbort(c);
    let items: AsyncIterable<StreamItem>;
    try {
      items = await operation.run(x, v1Params, abort.signal);
    } catch (error) {
      abort.abort();
      return respondError(id, asA2AError(error), dialect);
    }
    const errorDialect = dialect;
    return sseResponse({
      items,
      abort,
      frame: (item) => ({ jsonrpc: '2.0', id, result: resolved.item(item) }),
      frameError: (error) => ({ jsonrpc: '2.0', id, error: errorObject(asA2AError(error), errorDialect) }),
    });
  };
