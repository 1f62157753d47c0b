/**
 * A scripted OpenAI-compatible HTTP server on 127.0.0.1 (a random port), standing in for an LLM and
 * embeddings provider in tests. It is the only kind of test double for a provider in this project: the
 * code under test talks real HTTP through the real `openai` client.
 *
 *   const stub = await startOpenAIStub({ chat: ['Hello!', { toolCalls: [{ name: 'search', arguments: { q: 'x' } }] }] });
 *   const client = new OpenAI({ baseURL: stub.baseURL, apiKey: 'test' });
 *   ...
 *   await stub.close();
 *
 * Routes:
 * - POST /v1/embeddings: deterministic bag-of-words vectors (`stubEmbedding`): each word is hashed to
 *   one of `dimensions` buckets with a hashed sign, so texts sharing words are close and texts sharing
 *   none are near-orthogonal. Honours `dimensions` and `encoding_format: 'base64'`. Rejects an empty
 *   string with a 400, as OpenAI does.
 * - POST /v1/chat/completions: answers with the next reply of the script given to the constructor (or
 *   `enqueue`d later), or from a function of the request; `stream: true` gives SSE chunks like OpenAI's
 *   (role, content pieces, tool-call deltas, finish reason, optional usage chunk, `[DONE]`).
 * - GET /v1/models.
 * Every request is recorded in `requests` (method, path, headers, parsed body); `openStreams` counts the
 * streamed chat responses whose connection is still open.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StubToolCall {
  id?: string;
  name: string;
  /** An object is sent as its JSON text. */
  arguments: string | Record<string, unknown>;
}

export interface StubChatReply {
  content?: string | null;
  toolCalls?: StubToolCall[];
  /** Default: 'tool_calls' when there are tool calls, otherwise 'stop'. */
  finishReason?: 'stop' | 'length' | 'tool_calls' | 'content_filter';
  /** When streaming: the content in these pieces (default: word by word, spaces kept). */
  chunks?: string[];
  /** When streaming: pause between chunks. */
  chunkDelayMs?: number;
  /** When streaming: cut the connection after this many content chunks (no tool calls, no finish, no [DONE]). */
  abortAfterChunks?: number;
  /** Answer with this HTTP error instead (OpenAI's error body). */
  error?: { status: number; message: string; type?: string; code?: string; retryAfterMs?: number };
  /** Wait before answering. */
  delayMs?: number;
  usage?: { prompt_tokens: number; completion_tokens: number };
}

/** The chat request as the stub received it (the parts a script usually looks at, plus the rest). */
export interface StubChatRequest {
  model: string;
  messages: Array<{ role: string; content?: unknown; tool_calls?: unknown; tool_call_id?: string }>;
  stream?: boolean;
  tools?: unknown[];
  [key: string]: unknown;
}

/** A string reply is `{ content: string }`. */
export type StubReply = StubChatReply | string;
export type ChatScript =
  | StubReply[]
  | ((request: StubChatRequest, call: number) => StubReply | Promise<StubReply>);

export interface OpenAIStubOptions {
  /** Chat completion replies, used in order (a reply used up is gone), or a function of the request. */
  chat?: ChatScript;
  /** When set, requests must carry `Authorization: Bearer <apiKey>` (otherwise 401, as OpenAI). */
  apiKey?: string;
  /** Vector length when a request gives no `dimensions` (default 512). */
  embeddingDimensions?: number;
  /** false: return unnormalised vectors (to test that a client normalises). Default true. */
  normaliseEmbeddings?: boolean;
  /** Answer embeddings requests with this error (for error-path tests); a function may pick requests. */
  embeddingsError?:
    | StubChatReply['error']
    | ((body: Record<string, unknown>, call: number) => StubChatReply['error'] | undefined);
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

const fnv1a = (s: string): number => {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
};

/** Lower-cased words (letters and digits), a plural 's' dropped. */
const words = (text: string): string[] =>
  (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).map((w) =>
    w.length > 3 && w.endsWith('s') && !w.endsWith('ss') ? w.slice(0, -1) : w,
  );

/** The stub's embedding of `text`: deterministic, exported so tests can predict it. */
export const stubEmbedding = (text: string, dimensions = 512, normalise = true): number[] => {
  const v = new Array<number>(dimensions).fill(0);
  const ws = words(text);
  for (const w of ws.length ? ws : ['\u0000blank']) {
    v[fnv1a(w) % dimensions]! += fnv1a(`${w}\u0000sign`) & 1 ? 1 : -1;
  }
  if (!v.some((x) => x !== 0)) v[0] = 1; // words whose hashes cancelled out
  if (!normalise) return v.map((x) => x * 3);
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
};

const toBase64 = (v: number[]) => Buffer.from(new Float32Array(v).buffer).toString('base64');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const countTokens = (value: unknown): number => {
  const text = typeof value === 'string' ? value : JSON.stringify(value ?? '');
  return words(text).length;
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = 'invalid_request_error',
    readonly code: string | null = null,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export class OpenAIStub {
  readonly requests: RecordedRequest[] = [];
  private server: Server | null = null;
  private port = 0;
  private script: StubReply[] = [];
  private scriptFn: Extract<ChatScript, (...args: never[]) => unknown> | null = null;
  private chatCalls = 0;
  private embeddingCalls = 0;
  private ids = 0;
  private streaming = 0;

  constructor(private readonly options: OpenAIStubOptions = {}) {
    if (typeof options.chat === 'function') this.scriptFn = options.chat;
    else this.script = [...(options.chat ?? [])];
  }

  /** Base URL for the `openai` client, ending in /v1. */
  get baseURL(): string {
    if (!this.server) throw new Error('openai-stub: not started');
    return `http://127.0.0.1:${this.port}/v1`;
  }

  /** Streamed chat responses still open (a client that aborts closes its own). */
  get openStreams(): number {
    return this.streaming;
  }

  /** Chat replies not used yet (with a scripted array). */
  get remaining(): number {
    return this.script.length;
  }

  /** Requests to one path, e.g. '/v1/chat/completions'. */
  requestsTo(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  /** Adds replies at the end of the chat script. */
  enqueue(...replies: StubReply[]): this {
    if (this.scriptFn) throw new Error('openai-stub: the chat script is a function');
    this.script.push(...replies);
    return this;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent)
          this.sendError(res, new HttpError(500, `openai-stub: ${String(err)}`, 'server_error'));
        else res.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const path = new URL(req.url ?? '/', 'http://stub').pathname.replace(/\/+$/, '');
    const raw = await new Promise<string>((resolve, reject) => {
      let data = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (data += d));
      req.on('end', () => resolve(data));
      req.on('error', reject);
    });
    let body: unknown = null;
    if (raw) {
      try {
        body = JSON.parse(raw);
      } catch {
        this.requests.push({ method: req.method ?? '', path, headers: req.headers, body: raw });
        return this.sendError(res, new HttpError(400, 'We could not parse the JSON body of your request.'));
      }
    }
    this.requests.push({ method: req.method ?? '', path, headers: req.headers, body });

    try {
      if (
        this.options.apiKey !== undefined &&
        req.headers.authorization !== `Bearer ${this.options.apiKey}`
      ) {
        throw new HttpError(401, 'Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key');
      }
      if (req.method === 'POST' && path === '/v1/embeddings') return this.embeddings(body, res);
      if (req.method === 'POST' && path === '/v1/chat/completions') return await this.chat(body, res);
      if (req.method === 'GET' && path === '/v1/models') {
        return this.sendJson(res, 200, {
          object: 'list',
          data: ['stub-chat', 'stub-embedding'].map((id) => ({
            id,
            object: 'model',
            created: 0,
            owned_by: 'stub',
          })),
        });
      }
      throw new HttpError(
        404,
        `openai-stub: no route ${req.method} ${path}`,
        'invalid_request_error',
        'not_found',
      );
    } catch (err) {
      if (err instanceof HttpError) return this.sendError(res, err);
      throw err;
    }
  }

  private embeddings(body: unknown, res: ServerResponse) {
    const call = this.embeddingCalls++;
    if (typeof body !== 'object' || body === null)
      throw new HttpError(400, 'openai-stub: a JSON object body is required');
    const b = body as Record<string, unknown>;
    const injected =
      typeof this.options.embeddingsError === 'function'
        ? this.options.embeddingsError(b, call)
        : this.options.embeddingsError;
    if (injected) throw this.toHttpError(injected);
    if (typeof b.model !== 'string' || !b.model)
      throw new HttpError(400, 'you must provide a model parameter');
    const inputs = typeof b.input === 'string' ? [b.input] : b.input;
    if (!Array.isArray(inputs) || inputs.length === 0 || inputs.some((t) => typeof t !== 'string')) {
      throw new HttpError(
        400,
        "'$.input' is invalid: the stub takes a string or a non-empty array of strings",
      );
    }
    if (inputs.some((t) => t === ''))
      throw new HttpError(400, "'$.input' is invalid. Please check the API reference.");
    const dimensions = b.dimensions ?? this.options.embeddingDimensions ?? 512;
    if (!Number.isInteger(dimensions) || (dimensions as number) < 1) {
      throw new HttpError(400, `Invalid value for 'dimensions' = ${String(dimensions)}.`);
    }
    const base64 = b.encoding_format === 'base64';
    const normalise = this.options.normaliseEmbeddings ?? true;
    const data = (inputs as string[]).map((text, index) => {
      const v = stubEmbedding(text, dimensions as number, normalise);
      return { object: 'embedding', index, embedding: base64 ? toBase64(v) : v };
    });
    const tokens = (inputs as string[]).reduce((n, t) => n + countTokens(t), 0);
    this.sendJson(res, 200, {
      object: 'list',
      data,
      model: b.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  }

  private async nextReply(request: StubChatRequest): Promise<StubChatReply> {
    const call = this.chatCalls++;
    let reply: StubReply | undefined;
    if (this.scriptFn) reply = await this.scriptFn(request, call);
    else reply = this.script.shift();
    if (reply === undefined) {
      throw new HttpError(
        400,
        `openai-stub: chat script exhausted (call ${call + 1}; the script had ${call} replies)`,
        'invalid_request_error',
        'stub_script_exhausted',
      );
    }
    return typeof reply === 'string' ? { content: reply } : reply;
  }

  private toHttpError(e: NonNullable<StubChatReply['error']>) {
    return new HttpError(
      e.status,
      e.message,
      e.type ?? (e.status >= 500 ? 'server_error' : 'invalid_request_error'),
      e.code ?? null,
      e.retryAfterMs,
    );
  }

  private async chat(body: unknown, res: ServerResponse) {
    const b = body as StubChatRequest | null;
    if (!b || typeof b.model !== 'string' || !Array.isArray(b.messages)) {
      throw new HttpError(400, 'openai-stub: model and messages are required');
    }
    const reply = await this.nextReply(b);
    if (reply.delayMs) await sleep(reply.delayMs);
    if (reply.error) throw this.toHttpError(reply.error);

    const id = `chatcmpl-stub-${++this.ids}`;
    const created = Math.floor(Date.now() / 1000);
    const toolCalls = (reply.toolCalls ?? []).map((t, i) => ({
      id: t.id ?? `call_stub_${this.ids}_${i}`,
      type: 'function' as const,
      function: {
        name: t.name,
        arguments: typeof t.arguments === 'string' ? t.arguments : JSON.stringify(t.arguments),
      },
    }));
    const content = reply.content ?? (toolCalls.length ? null : '');
    const finishReason = reply.finishReason ?? (toolCalls.length ? 'tool_calls' : 'stop');
    const usage = reply.usage ?? {
      prompt_tokens: countTokens(b.messages),
      completion_tokens: countTokens(content) + countTokens(toolCalls),
    };
    const fullUsage = { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens };

    if (!b.stream) {
      return this.sendJson(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model: b.model,
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content,
              refusal: null,
              ...(toolCalls.length ? { tool_calls: toolCalls } : {}),
            },
            logprobs: null,
            finish_reason: finishReason,
          },
        ],
        usage: fullUsage,
      });
    }

    this.streaming++;
    res.once('close', () => this.streaming--);
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
      res.write(
        `data: ${JSON.stringify({
          id,
          object: 'chat.completion.chunk',
          created,
          model: b.model,
          choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
        })}\n\n`,
      );
    chunk({ role: 'assistant', content: '' });
    const pieces = reply.chunks ?? (content ? (content.match(/\S+\s*|\s+/g) ?? [content]) : []);
    let sent = 0;
    for (const piece of pieces) {
      if (reply.abortAfterChunks !== undefined && sent >= reply.abortAfterChunks) break;
      if (reply.chunkDelayMs) await sleep(reply.chunkDelayMs);
      if (res.destroyed) return; // the client went away
      chunk({ content: piece });
      sent++;
    }
    if (reply.abortAfterChunks !== undefined) {
      await sleep(20); // let the chunks already written reach the client, then cut
      res.destroy();
      return;
    }
    toolCalls.forEach((t, index) => {
      chunk({
        tool_calls: [
          { index, id: t.id, type: 'function', function: { name: t.function.name, arguments: '' } },
        ],
      });
      const args = t.function.arguments;
      const step = Math.max(1, Math.ceil(args.length / 3));
      for (let i = 0; i < args.length; i += step) {
        chunk({ tool_calls: [{ index, function: { arguments: args.slice(i, i + step) } }] });
      }
    });
    chunk({}, finishReason);
    const streamOptions = b.stream_options as { include_usage?: boolean } | undefined;
    if (streamOptions?.include_usage) {
      res.write(
        `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: b.model, choices: [], usage: fullUsage })}\n\n`,
      );
    }
    res.end('data: [DONE]\n\n');
  }

  private sendJson(
    res: ServerResponse,
    status: number,
    value: unknown,
    headers: Record<string, string> = {},
  ) {
    const text = JSON.stringify(value);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }

  private sendError(res: ServerResponse, err: HttpError) {
    const headers: Record<string, string> = {};
    if (err.retryAfterMs !== undefined) headers['retry-after-ms'] = String(err.retryAfterMs);
    this.sendJson(
      res,
      err.status,
      { error: { message: err.message, type: err.type, param: null, code: err.code } },
      headers,
    );
  }
}

/** Starts a stub; remember to `close()` it. */
export const startOpenAIStub = (options: OpenAIStubOptions = {}): Promise<OpenAIStub> =>
  new OpenAIStub(options).start();
