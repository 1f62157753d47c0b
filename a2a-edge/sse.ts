/**
 * What the JSON-RPC and HTTP+JSON bindings share: the SSE writer for streamed operations and the
 * size-limited request body reader.
 */
import type { Context } from 'hono';
import type { StreamItem } from './service.ts';

/** An idle stream gets an SSE comment this often, so proxies and clients do not time it out. */
export const HEARTBEAT_MS = 15_000;

export interface SseOptions {
  items: AsyncIterable<StreamItem>;
  /** The JSON of an item's `data:` line. */
  frame: (item: StreamItem) => unknown;
  /** The JSON of the `data:` line sent when the iteration fails; the stream closes after it. */
  frameError: (error: unknown) => unknown;
  /**
   * The service's iteration stops when this aborts. The writer aborts it when the stream ends for any
   * reason (the items ran out, an error, the client went away), and closes the stream when someone else
   * aborts it (the request's own signal, linked by `streamAbort`).
   */
  abort: AbortController;
  heartbeatMs?: number;
}

const encoder = new TextEncoder();

/** An abort controller that also fires when the client disconnects. */
export const streamAbort = (c: Context): AbortController => {
  const abort = new AbortController();
  const request = c.req.raw.signal;
  if (request.aborted) abort.abort();
  else request.addEventListener('abort', () => abort.abort(), { once: true, signal: abort.signal });
  return abort;
};

/**
 * `text/event-stream`: one `id: <revision>` + `data: <json>` event per item, an error event then close on
 * failure, close when the items end, `: ping` comments while idle.
 */
export const sseResponse = (o: SseOptions): Response => {
  const heartbeatMs = o.heartbeatMs ?? HEARTBEAT_MS;
  let finish = () => {};
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      let closed = false;
      let heartbeat: NodeJS.Timeout | undefined;
      const arm = () => {
        clearTimeout(heartbeat);
        heartbeat = setTimeout(() => write(': ping\n\n'), heartbeatMs);
      };
      const write = (text: string) => {
        if (closed) return;
        try {
          controller.enqueue(encoder.encode(text));
          arm();
        } catch {
          finish();
        }
      };
      finish = () => {
        if (closed) return;
        closed = true;
        clearTimeout(heartbeat);
        o.abort.abort();
        try {
          controller.close();
        } catch {
          // already closed or errored by the consumer
        }
      };
      o.abort.signal.addEventListener('abort', () => finish(), { once: true });
      arm();
      void (async () => {
        try {
          for await (const item of o.items) {
            if (closed) break;
            write(`id: ${item.revision}\ndata: ${JSON.stringify(o.frame(item))}\n\n`);
          }
        } catch (error) {
          write(`data: ${JSON.stringify(o.frameError(error))}\n\n`);
        } finally {
          finish();
        }
      })();
    },
    cancel() {
      finish();
    },
  });
  return new Response(body, {
    status: 200,
    headers: {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache',
      'X-Accel-Buffering': 'no',
    },
  });
};

/** Largest request body accepted by default (AGENTCORE_BODY_LIMIT_BYTES). */
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;

export class BodyTooLarge extends Error {
  override readonly name = 'BodyTooLarge';
  constructor(readonly limit: number) {
    super(`Request body exceeds the limit of ${limit} bytes`);
  }
}

export class BodyNotUtf8 extends Error {
  override readonly name = 'BodyNotUtf8';
}

/**
 * The request body as text, refused (BodyTooLarge) when its declared Content-Length or the bytes actually
 * read exceed `limit`. The rest of an oversized body is left unread; the server drains it after answering.
 */
export const readBody = async (request: Request, limit: number): Promise<string> => {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) throw new BodyTooLarge(limit);
  if (!request.body) return '';
  // A declared length bounds the body (the HTTP parser reads no more): read it whole, the server adapter's
  // fast path, rather than through a web stream (measured at 4% of a busy hub's CPU).
  if (declared !== null && /^\d+$/.test(declared)) return utf8(new Uint8Array(await request.arrayBuffer()));
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limit) throw new BodyTooLarge(limit);
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  return utf8(Buffer.concat(chunks));
};

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const utf8 = (bytes: Uint8Array): string => {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new BodyNotUtf8('Request body is not valid UTF-8');
  }
};

/**
 * Whether a request body declared as `header` is read as JSON: `application/json` and `application/a2a+json`,
 * with any parameters (`; charset=utf-8`), or no Content-Type at all. The body is decoded as strict UTF-8
 * whatever charset it names.
 */
export const isJsonContentType = (header: string | undefined): boolean => {
  if (header === undefined || header.trim() === '') return true;
  const type = header.split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || type === 'application/a2a+json';
};

/** `A2A-Version` from the header or the `?A2A-Version=` query parameter; '' when absent. */
export const requestedVersion = (c: Context): string =>
  (c.req.header('a2a-version') || c.req.query('A2A-Version') || '').trim();

/** Major.Minor of a version string ("1.0.1" -> "1.0"); '' stays ''. */
export const majorMinor = (version: string): string => {
  const m = version.match(/^(\d+)\.(\d+)(?:\.\d+)?$/);
  return m ? `${Number(m[1])}.${Number(m[2])}` : version;
};

/** The SSE `Last-Event-ID` a resuming client sends (a task-stream revision), when it is a valid one. */
export const lastEventId = (c: Context): number | undefined => {
  const raw = c.req.header('last-event-id')?.trim();
  return raw && /^\d+$/.test(raw) ? Number(raw) : undefined;
};
