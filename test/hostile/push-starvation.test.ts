/**
 * Push delivery under a hostile tenant, on both runtimes: tenant A points the most configs a task may have
 * at black-hole endpoints (local servers that accept connections and never answer) on many tasks; tenant
 * B's push to a healthy local receiver still arrives within seconds, and a config over the per-task limit
 * is refused with a readable A2A error on both bindings.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_MAX_PUSH_CONFIGS_PER_TASK } from '../../commands/push-config.ts';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { waitFor } from '../support/wait.ts';

/** More of A's tasks than the 64 delivery slots the saga had for all tenants. */
const TASKS_A = 80;

type RpcReply = { result?: Record<string, unknown>; error?: { code: number; message: string } };

/** A server that accepts connections, reads what comes and never answers. */
const blackHole = async () => {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('data', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: (path: string) => `http://127.0.0.1:${port}/${path}`,
    connections: () => sockets.size,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
};

/** A healthy webhook receiver: records the task ids of what it is sent, answers 200. */
const receiver = async () => {
  const received: Array<{ at: number; taskId: string | undefined }> = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => {
      raw += d;
    });
    req.on('end', () => {
      const body = JSON.parse(raw) as {
        task?: { id: string };
        statusUpdate?: { taskId: string };
        artifactUpdate?: { taskId: string };
      };
      const taskId = body.task?.id ?? body.statusUpdate?.taskId ?? body.artifactUpdate?.taskId;
      received.push({ at: Date.now(), taskId });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
};

for (const kind of await runtimesFor('push starvation')) {
  const s = suite(`push starvation (${kind})`);
  let hub: TestHub;
  let keyA: string;
  let keyB: string;

  const rpc = async (key: string, method: string, params: unknown): Promise<RpcReply> => {
    const res = await fetch(`${hub.url}/a2a/jsonrpc`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'A2A-Version': '1.0', 'X-API-Key': key },
      body: JSON.stringify({ jsonrpc: '2.0', id: randomUUID(), method, params }),
    });
    return (await res.json()) as RpcReply;
  };
  const ok = async (key: string, method: string, params: unknown) => {
    const reply = await rpc(key, method, params);
    if (!reply.result) throw new Error(`${method}: ${JSON.stringify(reply.error)}`);
    return reply.result;
  };
  const newTask = async (key: string) => {
    const reply = await ok(key, 'SendMessage', {
      message: { messageId: randomUUID(), role: 'ROLE_USER', parts: [{ text: 'push me' }] },
    });
    return (reply.task as { id: string }).id;
  };
  const keyAccepted = (key: string) =>
    waitFor('the key accepted', async () => {
      const res = await fetch(`${hub.url}/a2a/jsonrpc`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'A2A-Version': '1.0', 'X-API-Key': key },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'GetTask', params: { id: 'probe' } }),
      });
      await res.body?.cancel();
      return res.status !== 401;
    });

  s.before(async () => {
    hub = await startHub(kind);
    keyA = await hub.addTenant('push-hostile-a');
    keyB = await hub.addTenant('push-victim-b');
    await keyAccepted(keyA);
    await keyAccepted(keyB);
  });
  s.after(async () => hub?.stop());

  s('A’s configs at black holes on many tasks do not delay B’s push to a healthy receiver', async () => {
    const holes = await Promise.all([0, 1, 2, 3].map(() => blackHole()));
    const healthy = await receiver();
    try {
      // B's task first, its events handled while nothing is queued (it has no config yet): so later only
      // its config's own message can deliver it, on the consumer A's hundreds of config messages fill.
      const taskB = await newTask(keyB);
      await waitFor(
        'B’s task events handled',
        async () => (await hub.runtime.bus.pending('push-delivery')) === 0,
      );
      // A: TASKS_A tasks, each with the most configs allowed, spread over four black holes
      const tasksA = await Promise.all(Array.from({ length: TASKS_A }, () => newTask(keyA)));
      await Promise.all(
        tasksA.map(async (taskId, t) => {
          for (let i = 0; i < DEFAULT_MAX_PUSH_CONFIGS_PER_TASK; i++) {
            await ok(keyA, 'CreateTaskPushNotificationConfig', {
              taskId,
              url: holes[(t + i) % holes.length]!.url(`a/${t}/${i}`),
            });
          }
        }),
      );
      await waitFor('A’s deliveries hanging on the black holes', async () =>
        holes.some((h) => h.connections() > 0),
      );
      const t0 = Date.now();
      await ok(keyB, 'CreateTaskPushNotificationConfig', { taskId: taskB, url: healthy.url });
      await waitFor(
        'B’s push delivered',
        async () => healthy.received.some((r) => r.taskId === taskB),
        60_000,
      );
      const took = Date.now() - t0;
      const hanging = holes.reduce((n, h) => n + h.connections(), 0);
      console.log(
        `  ${kind}: B's push arrived ${took} ms after its config was set, with ${hanging} of A's deliveries hanging on black holes`,
      );
      assert.ok(took < 5000, `B's push took ${took} ms (at most 5 s)`);
      assert.ok(
        healthy.received.every((r) => r.taskId === taskB),
        'nothing of A reached B’s receiver',
      );
    } finally {
      await healthy.close();
      for (const h of holes) await h.close(); // A's hanging POSTs fail at once, so the hub stops promptly
    }
  });

  s('a config over the per-task limit is refused on both bindings, with the limit named', async () => {
    const taskId = await newTask(keyA);
    for (let i = 0; i < DEFAULT_MAX_PUSH_CONFIGS_PER_TASK; i++) {
      await ok(keyA, 'CreateTaskPushNotificationConfig', {
        taskId,
        url: `http://127.0.0.1:9/${i}`,
        id: `c${i}`,
      });
    }
    const over = await rpc(keyA, 'CreateTaskPushNotificationConfig', { taskId, url: 'http://127.0.0.1:9/x' });
    assert.is(over.error?.code, -32602, JSON.stringify(over));
    assert.match(
      over.error!.message,
      new RegExp(
        `has ${DEFAULT_MAX_PUSH_CONFIGS_PER_TASK} push notification configs.*AGENTCORE_MAX_PUSH_CONFIGS_PER_TASK`,
      ),
    );
    const rest = await fetch(`${hub.url}/a2a/rest/tasks/${taskId}/pushNotificationConfigs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'A2A-Version': '1.0', 'X-API-Key': keyA },
      body: JSON.stringify({ taskId, url: 'http://127.0.0.1:9/y' }),
    });
    const restBody = (await rest.json()) as { error?: { message: string } };
    assert.is(rest.status, 400, JSON.stringify(restBody));
    assert.match(restBody.error!.message, /AGENTCORE_MAX_PUSH_CONFIGS_PER_TASK/);
    // replacing a config the task has is not one more; after a delete there is room again
    await ok(keyA, 'CreateTaskPushNotificationConfig', {
      taskId,
      url: 'http://127.0.0.1:9/replaced',
      id: 'c0',
    });
    await ok(keyA, 'DeleteTaskPushNotificationConfig', { taskId, id: 'c1' });
    await ok(keyA, 'CreateTaskPushNotificationConfig', { taskId, url: 'http://127.0.0.1:9/new', id: 'c10' });
    const list = await ok(keyA, 'ListTaskPushNotificationConfigs', { taskId, pageSize: 100 });
    assert.is((list.configs as unknown[]).length, DEFAULT_MAX_PUSH_CONFIGS_PER_TASK);
  });

  s.run();
}
