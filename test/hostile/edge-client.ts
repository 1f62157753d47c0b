/**
 * Plain-fetch helpers for the edge's hostile and conformance suites: JSON-RPC and REST calls with the hub's
 * key, raw bodies and headers when a test needs to send something no client library would.
 */
import { randomUUID } from 'node:crypto';
import { hashApiKey } from '../../commands/bootstrap.ts';
import type { TestHub } from '../support/hub.ts';
import { readSse } from '../support/sse.ts';
import { waitFor } from '../support/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: wire JSON, checked by the assertions
export type Json = Record<string, any>;

export interface Answer {
  status: number;
  headers: Headers;
  body: Json;
  text: string;
}

export const answer = async (r: Response): Promise<Answer> => {
  const text = await r.text();
  let body: Json = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = { raw: text };
  }
  return { status: r.status, headers: r.headers, body, text };
};

export const userMessage = (prefix: string, extra: Json = {}): Json => ({
  messageId: `${prefix}-${randomUUID()}`,
  role: 'ROLE_USER',
  parts: [{ text: 'hello there' }],
  ...extra,
});

export interface CallOptions {
  key?: string;
  headers?: Record<string, string>;
  /** Sent as is instead of JSON.stringify(payload). */
  raw?: string;
  path?: string;
  signal?: AbortSignal;
}

export const edgeClient = (hub: TestHub) => {
  const headers = (o: CallOptions) => ({
    'content-type': 'application/json',
    'A2A-Version': '1.0',
    'x-api-key': o.key ?? hub.apiKey,
    ...o.headers,
  });
  const rpcFetch = (method: string, params: unknown, o: CallOptions = {}) =>
    fetch(`${hub.url}${o.path ?? '/a2a/jsonrpc'}`, {
      method: 'POST',
      headers: headers(o),
      body: o.raw ?? JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
      signal: o.signal,
    });
  const rpc = async (method: string, params: unknown, o: CallOptions = {}) =>
    answer(await rpcFetch(method, params, o));
  /** The result of a JSON-RPC call that must succeed. */
  const result = async (method: string, params: unknown, o: CallOptions = {}) => {
    const r = await rpc(method, params, o);
    if (r.status !== 200 || r.body.result === undefined)
      throw new Error(`${method} failed (${r.status}): ${r.text.slice(0, 500)}`);
    return r.body.result as Json;
  };
  const restFetch = (method: string, path: string, body?: unknown, o: CallOptions = {}) =>
    fetch(`${hub.url}/a2a/rest${path}`, {
      method,
      headers: headers(o),
      body: o.raw ?? (body === undefined ? undefined : JSON.stringify(body)),
      signal: o.signal,
    });
  const rest = async (method: string, path: string, body?: unknown, o: CallOptions = {}) =>
    answer(await restFetch(method, path, body, o));
  return { rpcFetch, rpc, result, restFetch, rest };
};
export type EdgeClient = ReturnType<typeof edgeClient>;

/** Waits until the hub's read model holds the key (see keyVisible in test/e2e/a2a-http.test.ts). */
export const keyVisible = (hub: TestHub, key: string) =>
  waitFor('the API key in the read model', async () => {
    const rows = await hub.runtime.db.query('SELECT 1 FROM rm_api_keys WHERE key_hash = $1', [
      hashApiKey(key),
    ]);
    return rows.length === 1;
  });

/** The median of a few timings, in ms. */
export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

export const timed = async (f: () => Promise<unknown>) => {
  const start = performance.now();
  await f();
  return performance.now() - start;
};

/** SSE `data:` payloads of a response, read until the server closes it (or `ms` pass: then it fails). */
export const sseData = async (response: Response, abort: AbortController, ms = 15_000): Promise<Json[]> => {
  const timer = setTimeout(() => abort.abort(), ms);
  const out: Json[] = [];
  try {
    for await (const event of readSse(response)) out.push(event.data as Json);
  } catch (error) {
    if (abort.signal.aborted) throw new Error(`the stream did not close within ${ms} ms`);
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return out;
};
