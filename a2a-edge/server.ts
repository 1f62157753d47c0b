/** The HTTP server: health routes and `listen`, which serves a Hono app on Node. */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

export interface HealthCheck {
  name: string;
  check(): Promise<void>;
}

/** Liveness answers while the process runs; readiness checks every adapter. */
export const healthRoutes = (checks: HealthCheck[]) => {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const results = await Promise.all(
      checks.map(async ({ name, check }) => {
        try {
          await check();
          return { name, ok: true };
        } catch (error) {
          return { name, ok: false, error: (error as Error).message };
        }
      }),
    );
    const ready = results.every((r) => r.ok);
    return c.json({ status: ready ? 'ready' : 'unavailable', checks: results }, ready ? 200 : 503);
  });
  return app;
};

export const listen = (
  app: { fetch: (request: Request) => Response | Promise<Response> },
  host: string,
  port: number,
) =>
  new Promise<{ url: string; close(): Promise<void> }>((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: host, port }, (info: AddressInfo) => {
      resolve({
        url: `http://${host}:${info.port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
          }),
      });
    });
    server.once('error', reject);
  });
