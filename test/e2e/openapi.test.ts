/**
 * The OpenAPI document (GET /api/openapi.json): every /api route of the app is in it, and real answers of a
 * running hub validate against its response schemas (JSON Schema 2020-12, as OpenAPI 3.1 uses).
 */
import { randomUUID } from 'node:crypto';
import { Ajv2020 } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import pino from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { A2AService } from '../../a2a-edge/service.ts';
import type { AgentDirectory } from '../../agents/directory.ts';
import { edgeApp } from '../../app/http.ts';
import type { Discovery } from '../../infra/discovery/port.ts';
import type { EventStore } from '../../infra/event-store/port.ts';
import type { SqlDatabase, SqlExecutor } from '../../infra/sql/port.ts';
import { startHub, type TestHub } from '../support/hub.ts';
import { waitFor } from '../support/wait.ts';

interface Operation {
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
}
interface Document {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, unknown> };
}

let hub: TestHub;
let doc: Document;

test.before(async () => {
  hub = await startHub('embedded');
  const r = await fetch(`${hub.url}/api/openapi.json`); // no key: the document is public
  assert.is(r.status, 200);
  doc = (await r.json()) as Document;
});
test.after(async () => hub?.stop());

test('the document is OpenAPI 3.1 and names every /api route the app serves', () => {
  assert.is(doc.openapi, '3.1.0');
  // The app as edgeApp builds it (no request is made: the dependencies are never called).
  const app = edgeApp({
    service: {} as A2AService,
    auth: { authenticate: async () => null },
    agents: {} as AgentDirectory,
    version: 'test',
    capabilities: { streaming: true, pushNotifications: true },
    checks: [],
    store: {} as EventStore,
    discovery: {} as Discovery,
    readModels: {} as SqlDatabase,
    log: pino({ level: 'silent' }),
    admin: { store: {} as EventStore, readModels: {} as SqlExecutor, allowPrivateUrls: false },
  });
  const served = new Set(
    app.routes
      .filter((r) => r.path.startsWith('/api/') && r.method !== 'ALL' && !r.path.includes('*'))
      .filter((r) => !['/api/openapi.json', '/api/docs', '/api/docs/standalone.js'].includes(r.path))
      .map((r) => `${r.method} ${r.path.replace(/:([A-Za-z]+)/g, '{$1}')}`),
  );
  const documented = new Set(
    Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    ),
  );
  const missing = [...served].filter((r) => !documented.has(r));
  assert.equal(missing, [], `routes missing from /api/openapi.json: ${missing.join(', ')}`);
  const stale = [...documented].filter((r) => !served.has(r));
  assert.equal(stale, [], `documented routes the app does not serve: ${stale.join(', ')}`);
  for (const path of [
    '/api/tasks',
    '/api/metrics',
    '/api/audit',
    '/api/lineage/tasks/{id}',
    '/api/admin/webhooks',
  ])
    assert.ok(doc.paths[path], path);
});

test('real answers validate against the document', async () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  formats.default(ajv); // a CommonJS module: its plugin is also its `default`
  // The whole document as one schema, so the answers' schemas resolve their $refs within it.
  ajv.addSchema({ ...doc, $id: 'https://agentcore.test/openapi.json' });
  const pointer = (...parts: string[]) =>
    parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
  const check = async (path: string, template: string, status = 200, key: string | null = hub.apiKey) => {
    const r = await fetch(`${hub.url}${path}`, { headers: key ? { 'X-API-Key': key } : {} });
    assert.is(r.status, status, path);
    const schema = doc.paths[template]?.get?.responses[String(status)]?.content?.['application/json']?.schema;
    assert.ok(schema, `${template} documents a JSON answer for ${status}`);
    const body = await r.json();
    const ref = `https://agentcore.test/openapi.json#/${pointer('paths', template, 'get', 'responses', String(status), 'content', 'application/json', 'schema')}`;
    const validate = ajv.compile({ $ref: ref });
    assert.ok(validate(body), `${path}: ${ajv.errorsText(validate.errors)}`);
    return body;
  };
  const sent = await fetch(`${hub.url}/a2a/jsonrpc`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'A2A-Version': '1.0', 'X-API-Key': hub.apiKey },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'SendMessage',
      params: { message: { messageId: randomUUID(), role: 'ROLE_USER', parts: [{ text: 'hi' }] } },
    }),
  });
  const taskId = ((await sent.json()) as { result: { task: { id: string } } }).result.task.id;
  await check('/api/tasks?limit=5', '/api/tasks');
  await check(`/api/tasks/${taskId}`, '/api/tasks/{id}');
  await check('/api/tasks?limit=0', '/api/tasks', 400);
  await check('/api/tasks', '/api/tasks', 401, null);
  await check(`/api/tasks/${randomUUID()}`, '/api/tasks/{id}', 404);
  await check('/api/workflow-runs', '/api/workflow-runs');
  await check('/api/agents?q=echo', '/api/agents');
  await waitFor('the task in the lineage', async () => {
    const r = await fetch(`${hub.url}/api/lineage/tasks/${taskId}`, { headers: { 'X-API-Key': hub.apiKey } });
    return r.status === 200;
  });
  await check(`/api/lineage/tasks/${taskId}`, '/api/lineage/tasks/{id}');
  await check(`/api/metrics?step=1m&from=${new Date(Date.now() - 3_600_000).toISOString()}`, '/api/metrics');
  await check('/api/metrics?step=5m', '/api/metrics', 400);
  await check('/api/audit?limit=5', '/api/audit');
  await check('/api/audit/verify', '/api/audit/verify');
  // The schemas do say something: a wrong answer fails them.
  const tasks200 = `https://agentcore.test/openapi.json#/${pointer('paths', '/api/tasks', 'get', 'responses', '200', 'content', 'application/json', 'schema')}`;
  assert.not.ok(ajv.compile({ $ref: tasks200 })({ tasks: [{ id: 1 }], nextCursor: null }));
});

test('the reference page is served, with its script from the hub itself (no CDN)', async () => {
  const page = await fetch(`${hub.url}/api/docs`);
  assert.is(page.status, 200);
  const html = await page.text();
  assert.match(html, /\/api\/openapi\.json/);
  const src = html.match(/<script[^>]+src="([^"]+)"/)?.[1];
  assert.ok(src?.startsWith('/api/docs/'), `the script is the hub's own: ${src}`);
  const script = await fetch(`${hub.url}${src}`);
  assert.is(script.status, 200);
  assert.match(script.headers.get('content-type') ?? '', /javascript/);
  assert.ok((await script.arrayBuffer()).byteLength > 100_000);
});

test.run();
