/**
 * The browsable API reference at /api/docs: Scalar's page over /api/openapi.json, its script served by the hub
 * itself (an air-gapped hub has no CDN to load it from).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Scalar } from '@scalar/hono-api-reference';
import { Hono } from 'hono';

const SCRIPT = '/api/docs/standalone.js';

/** GET /docs and GET /docs/standalone.js, mounted under /api; neither needs a key (the document is public). */
export const apiDocsRoutes = () => {
  const app = new Hono();
  let script: Promise<Buffer> | null = null;
  app.get('/docs', Scalar({ url: '/api/openapi.json', cdn: SCRIPT, pageTitle: 'AgentCore API' }));
  app.get('/docs/standalone.js', async (c) => {
    // The package does not export its browser bundle: find it beside its entry point.
    const entry = createRequire(import.meta.url).resolve('@scalar/api-reference');
    script ??= readFile(join(dirname(entry), 'browser', 'standalone.js'));
    c.header('Content-Type', 'text/javascript; charset=utf-8');
    c.header('Cache-Control', 'public, max-age=86400');
    return c.body(new Uint8Array(await script));
  });
  return app;
};
