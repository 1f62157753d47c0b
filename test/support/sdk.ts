/**
 * The official A2A JS SDK (`@a2a-js/sdk`) as a peer nobody here wrote: clients for the hub over JSON-RPC,
 * HTTP+JSON and the v0.3 legacy JSON-RPC, a fetch that records what went over the wire, and small readers
 * for the SDK's ts-proto objects (numeric enums, `{content: {$case, value}}` parts, `{payload}` events).
 */
import {
  AgentCard,
  type Message,
  type Part,
  SendMessageRequest,
  type StreamResponse,
  type Task,
  TaskState,
} from '@a2a-js/sdk';
import {
  Client,
  ClientFactory,
  ClientFactoryOptions,
  createAuthenticatingFetchWithRetry,
  DefaultAgentCardResolver,
  JsonRpcTransportFactory,
  RestTransportFactory,
} from '@a2a-js/sdk/client';
import { LegacyJsonRpcTransport, LegacyRestTransport } from '@a2a-js/sdk/compat/v0_3/client';

export type Binding = 'JSONRPC' | 'HTTP+JSON';

/** One HTTP exchange as the SDK made it. `body` is kept for non-stream responses. */
export interface WireCall {
  method: string;
  url: string;
  headers: Headers;
  status?: number;
  contentType?: string | null;
  body?: string;
}

type Fetch = typeof fetch;

/** A fetch that records every request (after the SDK and its auth handler built it) and its response. */
export const recordingFetch = (calls: WireCall[], rewrite?: (headers: Headers) => void): Fetch => {
  const f = async (input: string | URL | Request, init?: RequestInit) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    rewrite?.(headers);
    const call: WireCall = { method: init?.method ?? 'GET', url, headers };
    calls.push(call);
    const response = await fetch(input, { ...init, headers });
    call.status = response.status;
    call.contentType = response.headers.get('content-type');
    if (!call.contentType?.startsWith('text/event-stream')) call.body = await response.clone().text();
    return response;
  };
  return f as Fetch;
};

/** The SDK's own authentication hook: it adds the key to every request; no retry dance. */
const authenticating = (inner: Fetch, apiKey: string, style: 'x-api-key' | 'bearer'): Fetch =>
  createAuthenticatingFetchWithRetry(inner, {
    headers: async (): Promise<Record<string, string>> =>
      style === 'bearer' ? { Authorization: `Bearer ${apiKey}` } : { 'X-API-Key': apiKey },
    shouldRetryWithHeaders: async () => undefined,
  });

export interface Peer {
  client: Client;
  /** Every request this peer made, the card fetch included. */
  calls: WireCall[];
}

/**
 * `ClientFactory.createFromUrl(baseUrl)`: the SDK reads the card at /.well-known/agent-card.json (no key:
 * the card is public) and picks the interface of `binding`. Requests carry the key as `X-API-Key` or
 * `Authorization: Bearer`.
 */
export const connect = async (
  baseUrl: string,
  apiKey: string,
  binding: Binding,
  style: 'x-api-key' | 'bearer' = binding === 'JSONRPC' ? 'x-api-key' : 'bearer',
  /** A card elsewhere than the well-known path, fetched with the key (a workflow's card is its tenant's). */
  cardUrl?: string,
): Promise<Peer> => {
  const calls: WireCall[] = [];
  const wire = recordingFetch(calls);
  const fetchImpl = authenticating(wire, apiKey, style);
  const factory = new ClientFactory(
    ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
      transports: [new JsonRpcTransportFactory({ fetchImpl }), new RestTransportFactory({ fetchImpl })],
      preferredTransports: [binding],
      cardResolver: new DefaultAgentCardResolver({ fetchImpl: cardUrl ? fetchImpl : wire }),
    }),
  );
  return {
    client: await (cardUrl ? factory.createFromUrl(cardUrl, '') : factory.createFromUrl(baseUrl)),
    calls,
  };
};

/**
 * A v0.3 peer: the SDK's legacy transports (`message/send`, `kind`, kebab-case states), by default JSON-RPC
 * at the card's v0.3 `url`. The SDK client sends `A2A-Version: 0.3`; with `noVersionHeader` the header is
 * removed, as a pre-1.0 client (which never sent one) would.
 */
export const connectV03 = async (
  baseUrl: string,
  apiKey: string,
  options: { noVersionHeader?: boolean; binding?: Binding; endpoint?: string } = {},
): Promise<Peer & { rawCard: Record<string, unknown> }> => {
  const calls: WireCall[] = [];
  const wire = recordingFetch(
    calls,
    options.noVersionHeader ? (h) => void h.delete('A2A-Version') : undefined,
  );
  const rawCard = (await (await fetch(new URL('/.well-known/agent-card.json', baseUrl))).json()) as Record<
    string,
    unknown
  >;
  // A v0.3 peer knows the top-level `url` (and `additionalInterfaces`); the capabilities decide what the
  // client tries (streaming).
  const transportOptions = {
    endpoint: options.endpoint ?? String(rawCard.url),
    fetchImpl: authenticating(wire, apiKey, 'x-api-key'),
  };
  const transport =
    options.binding === 'HTTP+JSON'
      ? new LegacyRestTransport(transportOptions)
      : new LegacyJsonRpcTransport(transportOptions);
  return { client: new Client(transport, AgentCard.fromJSON(rawCard)), calls, rawCard };
};

// ---------------------------------------------------------------------------------------------------------
// Requests

export interface SendOptions {
  taskId?: string;
  contextId?: string;
  returnImmediately?: boolean;
  historyLength?: number;
}

/** A SendMessageRequest (ts-proto) with one text part, built from its ProtoJSON. */
export const send = (messageId: string, text: string, o: SendOptions = {}) =>
  SendMessageRequest.fromJSON({
    message: {
      messageId,
      role: 'ROLE_USER',
      parts: [{ text }],
      ...(o.taskId ? { taskId: o.taskId } : {}),
      ...(o.contextId ? { contextId: o.contextId } : {}),
    },
    ...(o.returnImmediately !== undefined || o.historyLength !== undefined
      ? {
          configuration: {
            ...(o.returnImmediately !== undefined ? { returnImmediately: o.returnImmediately } : {}),
            ...(o.historyLength !== undefined ? { historyLength: o.historyLength } : {}),
          },
        }
      : {}),
  });

// ---------------------------------------------------------------------------------------------------------
// Reading the SDK's objects

export const isMessage = (r: Task | Message): r is Message => 'messageId' in r;

export const asTask = (r: Task | Message, what: string): Task => {
  if (isMessage(r)) throw new Error(`${what}: expected a Task, got a Message ${JSON.stringify(r)}`);
  return r;
};

export const textOf = (parts: Part[] | undefined): string =>
  (parts ?? []).map((p) => (p.content?.$case === 'text' ? p.content.value : '')).join('');

export const stateName = (state: TaskState | undefined) =>
  state === undefined ? 'undefined' : (TaskState[state] ?? String(state));

/** `task(SUBMITTED)`, `statusUpdate(WORKING)`, `artifactUpdate(id append lastChunk)`, `message`. */
export const describeEvent = (e: StreamResponse): string => {
  const p = e.payload;
  switch (p?.$case) {
    case 'task':
      return `task(${stateName(p.value.status?.state)})`;
    case 'statusUpdate':
      return `statusUpdate(${stateName(p.value.status?.state)})`;
    case 'artifactUpdate':
      return `artifactUpdate(${p.value.artifact?.artifactId}${p.value.append ? ' append' : ''}${
        p.value.lastChunk ? ' lastChunk' : ''
      })`;
    case 'message':
      return 'message';
    default:
      return 'empty';
  }
};

/**
 * Reads a stream to its end. The stream must end (the server closes it) before `signal` fires: a stream
 * that stays open fails the test with what had arrived.
 */
export const drain = async (
  stream: AsyncIterable<StreamResponse>,
  signal: AbortSignal,
  what: string,
): Promise<StreamResponse[]> => {
  const events: StreamResponse[] = [];
  try {
    for await (const e of stream) events.push(e);
  } catch (error) {
    if (signal.aborted) {
      throw new Error(
        `${what}: the stream was still open when the deadline passed; got [${events.map(describeEvent).join(', ')}]`,
      );
    }
    throw error;
  }
  return events;
};

/** The A2A error an SDK call failed with: the SDK wraps errors that arrive inside an SSE stream. */
export const a2aCause = (error: unknown): unknown =>
  error instanceof Error && !('reason' in error) && error.cause ? error.cause : error;
