/**
 * Size limits at the edge, on both runtimes: a body refused by its declared length is not read (the
 * connection closes), the maximum message size (a message's parts, both bindings), ListTasks pages cut by
 * history in the query and by size, and GetTask answering another tenant's large task as cheaply as an
 * unknown id.
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LIST_TASKS_MAX_BYTES } from '../../a2a-edge/list-tasks.ts';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { waitFor } from '../support/wait.ts';
import {
  type EdgeClient,
  edgeClient,
  type Json,
  keyVisible,
  median,
  timed,
  userMessage,
} from './edge-client.ts';

const KiB = 1024;

for (const kind of await runtimesFor('edge limits')) {
  const s = suite(`edge limits (${kind})`);
  let hub: TestHub;
  let client: EdgeClient;
  s.before(async () => {
    hub = await startHub(kind);
    await keyVisible(hub, hub.apiKey);
    client = edgeClient(hub);
  });
  s.after(async () => hub?.stop());

  s(
    'a message over the maximum message size (512 KiB) is refused on both bindings; one under it passes',
    async () => {
      const big = {
        message: userMessage('big', {
          parts: [{ text: 'x'.repeat(KiB * 256) }, { text: 'y'.repeat(KiB * 256) }],
        }),
      };
      const rpc = await client.rpc('SendMessage', big);
      assert.is(rpc.status, 200);
      assert.is(rpc.body.error?.code, -32602, rpc.text.slice(0, 300));
      assert.match(
        rpc.body.error.message,
        /message: 52\d{4} bytes exceed the maximum message size of 524288 bytes/,
      );
      const rest = await client.rest('POST', '/message:send', big);
      assert.is(rest.status, 413, rest.text.slice(0, 300));
      assert.is(rest.body.error.status, 'INVALID_ARGUMENT');
      assert.match(rest.body.error.message, /maximum message size/);
      // The request's metadata counts too: the log would hold it with the message.
      const withMetadata = await client.rpc('SendMessage', {
        message: userMessage('meta'),
        metadata: { blob: 'm'.repeat(KiB * 600) },
      });
      assert.is(withMetadata.body.error?.code, -32602);
      const fits = await client.result('SendMessage', {
        message: userMessage('fits', { parts: [{ text: 'z'.repeat(KiB * 500) }] }),
        configuration: { returnImmediately: true, historyLength: 0 },
      });
      assert.ok(fits.task.id);
    },
  );

  s(
    'a body refused by its declared length is not read: 413, then the connection closes at once',
    async () => {
      const { hostname, port } = new URL(hub.url);
      const declared = 9 * 1024 * KiB;
      for (const path of ['/a2a/jsonrpc', '/a2a/rest/message:send', '/api/admin/workflows']) {
        // Declares 9 MB, sends 64 KiB of it and waits: a server that drains would read on (up to its drain
        // timeout) and keep the connection for the next request; this one answers and closes.
        const answer = await new Promise<{ head: string; closed: boolean }>((resolve, reject) => {
          const socket = net.connect({ host: hostname, port: Number(port) }, () => {
            socket.write(
              `POST ${path} HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\n` +
                `X-API-Key: ${hub.apiKey}\r\nContent-Length: ${declared}\r\n\r\n${'{'.repeat(64 * KiB)}`,
            );
          });
          let head = '';
          const timer = setTimeout(() => {
            socket.destroy();
            resolve({ head, closed: false });
          }, 5000);
          socket.on('data', (d) => (head += d.toString('latin1')));
          socket.once('close', () => {
            clearTimeout(timer);
            resolve({ head, closed: true });
          });
          socket.once('error', (e) => (head ? undefined : reject(e)));
        });
        assert.match(answer.head, /^HTTP\/1\.1 413 /, `${path}: ${answer.head.slice(0, 80)}`);
        assert.match(answer.head, /\r\nconnection: close\r\n/i, path);
        assert.ok(answer.closed, `${path}: the hub closed the connection instead of reading 9 MB`);
      }
    },
  );

  /** A tenant of its own holding `count` completed tasks whose user message carries `text`. */
  const tenantWithTasks = async (count: number, text: string) => {
    const key = await hub.addTenant(`lt-${randomUUID().slice(0, 8)}`);
    await keyVisible(hub, key);
    let sent = 0;
    const send = () =>
      client.result(
        'SendMessage',
        {
          message: userMessage('tck-complete-task', { parts: [{ text }] }),
          configuration: { historyLength: 0 },
        },
        { key },
      );
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        while (sent < count) {
          sent++;
          await send();
        }
      }),
    );
    await waitFor('the tasks listed', async () => {
      const l = await client.result('ListTasks', { pageSize: 1 }, { key });
      return l.totalSize >= count;
    });
    return key;
  };

  s(
    'ListTasks cuts history in the query: without it 100 large tasks fit a page, with it the page stops at 1 MiB',
    async () => {
      const count = 120;
      const large = await tenantWithTasks(count, 'L'.repeat(128 * KiB));
      const list = (params: Json) => client.result('ListTasks', { pageSize: 100, ...params }, { key: large });
      // The budget counts tasks as returned: cut to their latest message (or none), 100 fit in one page.
      const bare = await list({ historyLength: 0 });
      assert.is(bare.tasks.length, 100);
      assert.ok(bare.tasks.every((t: Json) => !('history' in t) || t.history.length === 0));
      const latest = await list({ historyLength: 1 });
      assert.is(latest.tasks.length, 100);
      assert.ok(latest.tasks.every((t: Json) => !('artifacts' in t) && t.history.length === 1));
      // With the whole history, each task carries its 128 KiB message: the page stops at the budget.
      const full = await list({});
      const bytes = Buffer.byteLength(JSON.stringify(full.tasks));
      assert.ok(full.tasks.length < 100 && full.nextPageToken, `${full.tasks.length} tasks, ${bytes} bytes`);
      assert.ok(bytes < LIST_TASKS_MAX_BYTES + 200 * KiB, `a page of ${bytes} bytes`);
      assert.is(full.totalSize, count);
    },
  );

  s(
    'a ListTasks page of large tasks stops at 1 MiB and the next pages hold the rest, each task once',
    async () => {
      const key = await tenantWithTasks(30, 'P'.repeat(300 * KiB));
      const seen: string[] = [];
      let pageToken = '';
      let pages = 0;
      do {
        const page = await client.result(
          'ListTasks',
          { pageSize: 100, ...(pageToken ? { pageToken } : {}) },
          { key },
        );
        const bytes = Buffer.byteLength(JSON.stringify(page.tasks));
        // The page stops at the first task that starts past the budget: at most one task over it.
        assert.ok(bytes < LIST_TASKS_MAX_BYTES + 400 * KiB, `a page of ${bytes} bytes`);
        assert.is(page.totalSize, 30);
        seen.push(...page.tasks.map((t: Json) => t.id as string));
        pageToken = page.nextPageToken;
        pages++;
      } while (pageToken && pages < 40);
      assert.ok(pages >= 3, `30 tasks of 300 KiB take several pages, got ${pages}`);
      assert.is(seen.length, 30);
      assert.is(new Set(seen).size, 30);
    },
  );

  s("GetTask on another tenant's large task costs what an unknown id costs", async () => {
    const owner = await client.result('SendMessage', {
      message: userMessage('owned', { parts: [{ text: 'O'.repeat(KiB * 500) }] }),
      configuration: { historyLength: 0 },
    });
    assert.is(owner.task.status.state, 'TASK_STATE_COMPLETED');
    const other = await hub.addTenant(`other-${randomUUID().slice(0, 8)}`);
    await keyVisible(hub, other);
    const get = async (id: string) => {
      const r = await client.rpc('GetTask', { id, historyLength: 0 }, { key: other });
      assert.is(r.body.error?.code, -32001, r.text.slice(0, 200));
    };
    const unknown: number[] = [];
    const foreign: number[] = [];
    for (let i = 0; i < 5; i++) {
      await get(randomUUID());
      await get(owner.task.id);
    }
    for (let i = 0; i < 50; i++) {
      unknown.push(await timed(() => get(randomUUID())));
      foreign.push(await timed(() => get(owner.task.id)));
    }
    const [u, f] = [median(unknown), median(foreign)];
    console.log(
      `  ${kind}: GetTask median, unknown id ${u.toFixed(2)} ms, another tenant's 1.5 MB task ${f.toFixed(2)} ms`,
    );
    assert.ok(f < 3 * u + 1, `another tenant's task: ${f} ms, an unknown id: ${u} ms`);
  });

  s.run();
}
