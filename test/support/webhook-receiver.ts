/**
 * An integrator's webhook receiver for tests: an HTTP server on loopback that records every request
 * (path, Standard Webhooks headers, CloudEvent body) and answers 204, or 500 while `failing` says so.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedCloudEvent {
  id: string;
  type: string;
  source: string;
  stream: string;
  revision: number;
  position: string;
  tenant: string;
  data: Record<string, unknown>;
}

export interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
  event: ReceivedCloudEvent;
  status: number;
}

export const startReceiver = async (options: { delayMs?: () => number } = {}) => {
  const received: Received[] = [];
  let failing: (path: string, event: ReceivedCloudEvent) => boolean = () => false;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let event: ReceivedCloudEvent;
      try {
        event = JSON.parse(body) as ReceivedCloudEvent;
      } catch {
        res.writeHead(400).end();
        return;
      }
      const path = req.url ?? '/';
      const status = failing(path, event) ? 500 : 204;
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : (v ?? '')]),
      );
      received.push({ path, headers, body, event, status });
      const answer = () => res.writeHead(status).end();
      const wait = options.delayMs?.() ?? 0;
      if (wait > 0) setTimeout(answer, wait);
      else answer();
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    /** Requests to `path` that were answered 2xx. */
    delivered: (path: string) => received.filter((r) => r.path === path && r.status < 300),
    setFailing(f: (path: string, event: ReceivedCloudEvent) => boolean) {
      failing = f;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};

export type Receiver = Awaited<ReturnType<typeof startReceiver>>;
