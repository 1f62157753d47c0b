/**
 * The `floor` system: bare Hono on @hono/node-server answering SendMessage with a constant task shape.
 * The one thing it does per request beyond that is put the request's text in the artifact, so it passes
 * the same echo check as everyone else; that is the cheapest correct answer, the ceiling on req/s here.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const app = new Hono();
app.post('/a2a/jsonrpc', async (c) => {
  const req = (await c.req.json()) as {
    id: unknown;
    params: { message: { parts: Array<{ text?: string }> } };
  };
  const text = req.params.message.parts[0]?.text ?? '';
  return c.json({
    jsonrpc: '2.0',
    id: req.id,
    result: {
      task: {
        id: 'floor-task',
        contextId: 'floor-context',
        status: { state: 'TASK_STATE_COMPLETED' },
        artifacts: [{ artifactId: 'echo', parts: [{ text }] }],
      },
    },
  });
});
serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 0), hostname: '127.0.0.1' }, (info) => {
  process.stdout.write(`listening on http://127.0.0.1:${info.port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
