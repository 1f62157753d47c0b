/**
 * Real remote A2A agents for tests, built from `@a2a-js/sdk`'s server pieces (DefaultRequestHandler, the
 * framework-agnostic JSON-RPC transport handlers) on node:http, on loopback:
 * - `version: '1.0'`: a v1.0 card (`supportedInterfaces`) and v1.0 JSON-RPC (`SendMessage`,
 *   `SendStreamingMessage` over SSE, ...); a request without `A2A-Version: 1.0` gets VersionNotSupported,
 *   as the spec says a missing header means 0.3.
 * - `version: '0.3'`: a v0.3 card (`url`, `protocolVersion: '0.3.0'`, `preferredTransport`) and the SDK's
 *   legacy JSON-RPC (`message/send`, `message/stream`, `kind`, kebab-case states).
 *
 * Each agent runs one executor whose behaviour the test switches at any time (`setBehaviour`):
 * - `echo`: task → working → artifact `echo` holding the input text → completed (status message = text);
 * - `fail`: task → working → failed (status message "simulated failure");
 * - `slow`: like echo after `delayMs` (default 2 s); a cancel ends the wait and the task is canceled;
 * - `error`: the A2A endpoint answers HTTP 503 (the card is still served): a transport-level failure;
 * - `down`: the A2A endpoint drops the connection without answering;
 * - `input`: a new task → working → input-required (status message "more input needed"); a follow-up
 *   message on that task → echo of the follow-up's text → completed (an input-required round trip).
 *
 * The card is served at /.well-known/agent-card.json (and /.well-known/agent.json) with
 * `Cache-Control: public, max-age=N` and an `ETag`; `If-None-Match` gets 304. Fetches are counted. The
 * card can be changed (`updateCard`), which changes its ETag.
 */
import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as wait } from 'node:timers/promises';
import { AgentCard, type Message, type Part, Role, type Task, TaskState } from '@a2a-js/sdk';
import { LegacyJsonRpcTransportHandler } from '@a2a-js/sdk/compat/v0_3/server';
import {
  AgentEvent,
  type AgentExecutor,
  DefaultRequestHandler,
  type ExecutionEventBus,
  InMemoryTaskStore,
  JsonRpcTransportHandler,
  type RequestContext,
  ServerCallContext,
  validateVersion,
} from '@a2a-js/sdk/server';

export type RemoteBehaviour = 'echo' | 'fail' | 'slow' | 'error' | 'down' | 'input';

export interface RemoteSkill {
  id: string;
  name: string;
  description: string;
  tags: string[];
  examples?: string[];
}

export interface RemoteAgentOptions {
  version: '1.0' | '0.3';
  name: string;
  description?: string;
  skills: RemoteSkill[];
  behaviour?: RemoteBehaviour;
  /** How long `slow` waits before answering. Default 2000 ms. */
  delayMs?: number;
  /** capabilities.streaming. Default true. */
  streaming?: boolean;
  /** Cache-Control max-age of the card. Default 60 s. */
  maxAgeSeconds?: number;
  /** The card's `version`. Default '1.0.0'. */
  cardVersion?: string;
}

/** One A2A request the agent received. */
export interface ReceivedCall {
  method: string;
  /** The A2A-Version header as sent (undefined when absent). */
  a2aVersion: string | undefined;
  messageId?: string;
  text?: string;
  metadata?: Record<string, unknown>;
  at: number;
}

export interface RemoteAgent {
  version: '1.0' | '0.3';
  name: string;
  /** Base URL (what one registers): the card is at `${url}/.well-known/agent-card.json`. */
  url: string;
  cardUrl: string;
  /** The JSON-RPC endpoint the card advertises. */
  rpcUrl: string;
  setBehaviour(behaviour: RemoteBehaviour, delayMs?: number): void;
  behaviour(): RemoteBehaviour;
  /** Changes the served card (new ETag); fields left out stay as they are. */
  updateCard(change: {
    description?: string;
    skills?: RemoteSkill[];
    cardVersion?: string;
    maxAgeSeconds?: number;
    streaming?: boolean;
  }): void;
  /** The card JSON as served now. */
  card(): Record<string, unknown>;
  /** The ETag served now. */
  etag(): string;
  /** Card requests: all of them, and how many were answered 304. */
  cardFetches(): { total: number; notModified: number };
  /** A2A requests received, in order (JSON-RPC method, message id and text when there is a message). */
  calls: ReceivedCall[];
  /** Task ids whose cancel reached the executor. */
  canceled: string[];
  stop(): Promise<void>;
}

const textPart = (text: string): Part => ({
  content: { $case: 'text', value: text },
  metadata: undefined,
  filename: '',
  mediaType: 'text/plain',
});

const agentMessage = (taskId: string, contextId: string, text: string): Message => ({
  messageId: randomUUID(),
  taskId,
  contextId,
  role: Role.ROLE_AGENT,
  parts: [textPart(text)],
  metadata: undefined,
  extensions: [],
  referenceTaskIds: [],
});

const textOfParts = (parts: Part[] | undefined) =>
  (parts ?? []).map((p) => (p.content?.$case === 'text' ? p.content.value : '')).join('');

/** Waits `ms`, or less if the signal aborts first (resolves either way). */
const sleep = (ms: number, signal: AbortSignal) => wait(ms, undefined, { signal }).catch(() => {});

interface State {
  behaviour: RemoteBehaviour;
  delayMs: number;
  canceled: string[];
}

class ScriptedExecutor implements AgentExecutor {
  private running = new Map<string, { abort: AbortController; contextId: string }>();
  constructor(private readonly state: State) {}

  async execute(ctx: RequestContext, bus: ExecutionEventBus): Promise<void> {
    const { taskId, contextId } = ctx;
    const input = ctx.userMessage;
    const text = textOfParts(input.parts);
    const now = () => new Date().toISOString();
    const task: Task = ctx.task ?? {
      id: taskId,
      contextId,
      status: { state: TaskState.TASK_STATE_SUBMITTED, message: undefined, timestamp: now() },
      artifacts: [],
      history: [input],
      metadata: undefined,
    };
    bus.publish(AgentEvent.task(task));
    const status = (state: TaskState, message?: string) =>
      bus.publish(
        AgentEvent.statusUpdate({
          taskId,
          contextId,
          status: {
            state,
            message: message === undefined ? undefined : agentMessage(taskId, contextId, message),
            timestamp: now(),
          },
          metadata: undefined,
        }),
      );
    status(TaskState.TASK_STATE_WORKING);
    const behaviour = this.state.behaviour;
    if (behaviour === 'fail') {
      status(TaskState.TASK_STATE_FAILED, 'simulated failure');
      bus.finished();
      return;
    }
    if (behaviour === 'input' && !ctx.task) {
      status(TaskState.TASK_STATE_INPUT_REQUIRED, 'more input needed');
      bus.finished();
      return;
    }
    if (behaviour === 'slow') {
      const abort = new AbortController();
      this.running.set(taskId, { abort, contextId });
      await sleep(this.state.delayMs, abort.signal);
      this.running.delete(taskId);
      if (abort.signal.aborted) return; // cancelTask published the canceled status
    }
    bus.publish(
      AgentEvent.artifactUpdate({
        taskId,
        contextId,
        artifact: {
          artifactId: randomUUID(),
          name: 'echo',
          description: '',
          parts: [textPart(text)],
          metadata: undefined,
          extensions: [],
        },
        append: false,
        lastChunk: true,
        metadata: undefined,
      }),
    );
    status(TaskState.TASK_STATE_COMPLETED, text);
    bus.finished();
  }

  async cancelTask(taskId: string, bus: ExecutionEventBus): Promise<void> {
    this.state.canceled.push(taskId);
    const run = this.running.get(taskId);
    run?.abort.abort();
    this.running.delete(taskId);
    bus.publish(
      AgentEvent.statusUpdate({
        taskId,
        contextId: run?.contextId ?? '',
        status: {
          state: TaskState.TASK_STATE_CANCELED,
          message: undefined,
          timestamp: new Date().toISOString(),
        },
        metadata: undefined,
      }),
    );
    bus.finished();
  }
}

const readBody = (req: http.IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (d) => {
      raw += d;
    });
    req.on('end', () => resolve(raw));
    req.on('error', reject);
  });

const sseFrame = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`;

const etagOf = (body: string) => `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`;

const etagMatches = (header: string | undefined, etag: string) =>
  (header ?? '')
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .some((t) => t === '*' || t === etag);

/** Starts one agent on 127.0.0.1 (a free port). */
export const startRemoteAgent = async (options: RemoteAgentOptions): Promise<RemoteAgent> => {
  const state: State = {
    behaviour: options.behaviour ?? 'echo',
    delayMs: options.delayMs ?? 2000,
    canceled: [],
  };
  const calls: ReceivedCall[] = [];
  const fetches = { total: 0, notModified: 0 };
  const desc = {
    description: options.description ?? `${options.name}: a test agent that echoes what it is sent`,
    skills: options.skills,
    cardVersion: options.cardVersion ?? '1.0.0',
    maxAgeSeconds: options.maxAgeSeconds ?? 60,
    streaming: options.streaming ?? true,
  };
  let base = '';
  let rpcUrl = '';
  let cardJson: Record<string, unknown> = {};
  let cardBody = '';
  let etag = '';

  const skillsJson = () =>
    desc.skills.map((s) => ({
      id: s.id,
      name: s.name,
      description: s.description,
      tags: s.tags,
      ...(s.examples ? { examples: s.examples } : {}),
    }));
  /** The v1.0 shape, which the SDK's request handler wants in either case (its interface names the version). */
  const coreCardJson = () => ({
    name: options.name,
    description: desc.description,
    supportedInterfaces: [
      { url: rpcUrl, protocolBinding: 'JSONRPC', protocolVersion: options.version === '1.0' ? '1.0' : '0.3' },
    ],
    version: desc.cardVersion,
    capabilities: { streaming: desc.streaming, pushNotifications: false },
    defaultInputModes: ['text/plain'],
    defaultOutputModes: ['text/plain'],
    skills: skillsJson(),
  });
  const servedCardJson = (): Record<string, unknown> =>
    options.version === '1.0'
      ? coreCardJson()
      : {
          protocolVersion: '0.3.0',
          name: options.name,
          description: desc.description,
          url: rpcUrl,
          preferredTransport: 'JSONRPC',
          version: desc.cardVersion,
          capabilities: { streaming: desc.streaming, pushNotifications: false },
          defaultInputModes: ['text/plain'],
          defaultOutputModes: ['text/plain'],
          skills: skillsJson(),
        };
  const rebuild = () => {
    cardJson = servedCardJson();
    cardBody = JSON.stringify(cardJson);
    etag = etagOf(cardBody);
    // The handler keeps this object: changing it in place changes what it gates on (streaming).
    Object.assign(coreCard, AgentCard.fromJSON(coreCardJson()));
  };
  const coreCard = AgentCard.fromJSON({});
  const handler = new DefaultRequestHandler(coreCard, new InMemoryTaskStore(), new ScriptedExecutor(state));
  const transport =
    options.version === '1.0'
      ? new JsonRpcTransportHandler(handler)
      : new LegacyJsonRpcTransportHandler(handler);

  const serveRpc = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (state.behaviour === 'down') {
      req.socket.destroy();
      return;
    }
    const raw = await readBody(req);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          jsonrpc: '2.0',
          id: null,
          error: { code: -32700, message: 'Invalid JSON payload.' },
        }),
      );
      return;
    }
    const header = req.headers['a2a-version'];
    const a2aVersion = Array.isArray(header) ? header[0] : header;
    const params = (body.params ?? {}) as {
      message?: { messageId?: string; parts?: Array<{ text?: string }>; metadata?: Record<string, unknown> };
    };
    calls.push({
      method: String(body.method),
      a2aVersion,
      messageId: params.message?.messageId,
      text: params.message?.parts?.map((p) => p.text ?? '').join(''),
      metadata: params.message?.metadata,
      at: Date.now(),
    });
    if (state.behaviour === 'error') {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('simulated outage');
      return;
    }
    const id = (body.id ?? null) as string | number | null;
    const context = new ServerCallContext({ requestedVersion: a2aVersion });
    const json = (status: number, payload: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(payload));
    };
    try {
      if (options.version === '1.0') {
        // A missing header means 0.3 (A2A §3.6): a v1.0-only server refuses it.
        try {
          validateVersion(a2aVersion || '0.3', coreCard, 'JSONRPC');
        } catch (error) {
          json(200, { jsonrpc: '2.0', id, error: JsonRpcTransportHandler.mapToJSONRPCError(error) });
          return;
        }
      }
      const answer = await transport.handle(body, context);
      if (answer && typeof (answer as AsyncGenerator)[Symbol.asyncIterator] === 'function') {
        res.writeHead(200, {
          'content-type': 'text/event-stream',
          'cache-control': 'no-cache',
          connection: 'keep-alive',
        });
        try {
          for await (const event of answer as AsyncGenerator<unknown>) res.write(sseFrame(event));
        } catch (error) {
          res.write(sseFrame({ jsonrpc: '2.0', id, error: { code: -32603, message: String(error) } }));
        }
        res.end();
        return;
      }
      json(200, answer);
    } catch (error) {
      json(500, { jsonrpc: '2.0', id, error: { code: -32603, message: String(error) } });
    }
  };

  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (
      req.method === 'GET' &&
      (path === '/.well-known/agent-card.json' || path === '/.well-known/agent.json')
    ) {
      fetches.total++;
      const headers = {
        etag,
        'cache-control': `public, max-age=${desc.maxAgeSeconds}`,
      };
      if (etagMatches(req.headers['if-none-match'], etag)) {
        fetches.notModified++;
        res.writeHead(304, headers).end();
        return;
      }
      res.writeHead(200, { ...headers, 'content-type': 'application/json' }).end(cardBody);
      return;
    }
    if (req.method === 'POST' && path === '/a2a/jsonrpc') {
      serveRpc(req, res).catch((error) => {
        if (!res.headersSent) res.writeHead(500).end(String(error));
        else res.end();
      });
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  rpcUrl = `${base}/a2a/jsonrpc`;
  rebuild();

  return {
    version: options.version,
    name: options.name,
    url: base,
    cardUrl: `${base}/.well-known/agent-card.json`,
    rpcUrl,
    setBehaviour(behaviour, delayMs) {
      state.behaviour = behaviour;
      if (delayMs !== undefined) state.delayMs = delayMs;
    },
    behaviour: () => state.behaviour,
    updateCard(change) {
      Object.assign(desc, Object.fromEntries(Object.entries(change).filter(([, v]) => v !== undefined)));
      rebuild();
    },
    card: () => structuredClone(cardJson),
    etag: () => etag,
    cardFetches: () => ({ ...fetches }),
    calls,
    canceled: state.canceled,
    async stop() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
};
