/**
 * The `reference` system: an A2A v1.0 JSON-RPC server built only from the official `@a2a-js/sdk` 1.3
 * (DefaultRequestHandler + InMemoryTaskStore + JsonRpcTransportHandler) on node:http, with an echo
 * executor. Like the hub's scenario agent, a first message whose messageId starts with
 * `tck-input-required` parks the task in INPUT_REQUIRED and a follow-up on that task completes it, so the
 * subscribe scenario runs the same on both. Prints `listening on <url>` once it accepts connections.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AgentCard, type Part, type Task, TaskState } from '@a2a-js/sdk';
import {
  AgentEvent,
  type AgentExecutor,
  DefaultRequestHandler,
  type ExecutionEventBus,
  InMemoryTaskStore,
  JsonRpcTransportHandler,
  type RequestContext,
  ServerCallContext,
} from '@a2a-js/sdk/server';

const textPart = (text: string): Part => ({
  content: { $case: 'text', value: text },
  metadata: undefined,
  filename: '',
  mediaType: 'text/plain',
});

const textOf = (parts: Part[]) =>
  parts.map((p) => (p.content?.$case === 'text' ? p.content.value : '')).join('');

class EchoExecutor implements AgentExecutor {
  async execute(ctx: RequestContext, bus: ExecutionEventBus): Promise<void> {
    const { taskId, contextId, userMessage } = ctx;
    const now = () => new Date().toISOString();
    if (!ctx.task) {
      const task: Task = {
        id: taskId,
        contextId,
        status: { state: TaskState.TASK_STATE_SUBMITTED, message: undefined, timestamp: now() },
        artifacts: [],
        history: [userMessage],
        metadata: undefined,
      };
      bus.publish(AgentEvent.task(task));
    }
    const status = (state: TaskState) =>
      bus.publish(
        AgentEvent.statusUpdate({
          taskId,
          contextId,
          status: { state, message: undefined, timestamp: now() },
          metadata: undefined,
        }),
      );
    if (!ctx.task && userMessage.messageId.startsWith('tck-input-required')) {
      // The handler keeps the bus of an interrupted task alive, so subscribers see the follow-up's events.
      status(TaskState.TASK_STATE_INPUT_REQUIRED);
      bus.finished();
      return;
    }
    bus.publish(
      AgentEvent.artifactUpdate({
        taskId,
        contextId,
        artifact: {
          artifactId: randomUUID(),
          name: 'echo',
          description: '',
          parts: [textPart(textOf(userMessage.parts))],
          metadata: undefined,
          extensions: [],
        },
        append: false,
        lastChunk: true,
        metadata: undefined,
      }),
    );
    status(TaskState.TASK_STATE_COMPLETED);
    bus.finished();
  }

  async cancelTask(): Promise<void> {}
}

const card = AgentCard.fromJSON({
  name: 'reference echo',
  description: 'Echo agent on the official A2A JS SDK',
  supportedInterfaces: [
    { url: 'http://127.0.0.1/a2a/jsonrpc', protocolBinding: 'JSONRPC', protocolVersion: '1.0' },
  ],
  version: '1.0.0',
  capabilities: { streaming: true, pushNotifications: false },
  defaultInputModes: ['text/plain'],
  defaultOutputModes: ['text/plain'],
  skills: [{ id: 'echo', name: 'Echo', description: 'Echoes the text', tags: ['echo'] }],
});
const transport = new JsonRpcTransportHandler(
  new DefaultRequestHandler(card, new InMemoryTaskStore(), new EchoExecutor()),
);

const server = http.createServer(async (req, res) => {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}');
    return;
  }
  const answer = await transport.handle(body, new ServerCallContext({ requestedVersion: '1.0' }));
  if (answer && typeof (answer as AsyncGenerator)[Symbol.asyncIterator] === 'function') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    try {
      for await (const event of answer as AsyncGenerator<unknown>)
        res.write(`data: ${JSON.stringify(event)}\n\n`);
    } catch (error) {
      res.write(
        `data: ${JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32603, message: String(error) } })}\n\n`,
      );
    }
    res.end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(answer));
});
server.maxConnections = 100_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
