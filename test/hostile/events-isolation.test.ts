/**
 * GET /api/events under a hostile tenant, on both runtimes: while tenant A writes megabytes of events and
 * tenant B holds 50 streams that never read (raw sockets) and a few that do, the hub's heap stays bounded,
 * A's SendMessage stays fast, B receives its own events and none of A's, stalled streams are dropped, the
 * per-key and per-tenant caps answer 429, secrets (an API key's hash) are served redacted, and one tenant's
 * streams together send no faster than the byte rate per tenant while another tenant's are not held back.
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { readSse } from '../support/sse.ts';
import { waitFor } from '../support/wait.ts';

const MB = 1024 * 1024;

// The limits this file's hubs run with (their configuration, as a deployment's environment gives it).
const PER_KEY = 40;
const PER_TENANT = 60;
const STALL_MS = 15_000;
const limits = {
  AGENTCORE_MAX_EVENT_STREAMS_PER_KEY: String(PER_KEY),
  AGENTCORE_MAX_EVENT_STREAMS_PER_TENANT: String(PER_TENANT),
  AGENTCORE_EVENT_STREAM_STALL_MS: String(STALL_MS),
  // As fast as they can: the byte rate per tenant has a suite of its own (the last in this file).
  AGENTCORE_EVENT_STREAM_BYTES_PER_SECOND: String(1024 * MB),
};

v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapMb = () => process.memoryUsage().heapUsed / MB;

/** `count` events of about `bytes` each for `tenant`, appended 50 at a time. */
const writeEvents = async (hub: TestHub, tenant: string, stream: string, count: number, bytes: number) => {
  const blob = 'x'.repeat(bytes);
  for (let i = 0; i < count; i += 50) {
    const events = Array.from({ length: Math.min(50, count - i) }, (_, k) => ({
      id: randomUUID(),
      type: 'NoiseRecorded',
      data: { i: i + k, blob },
      metadata: { tenant, principal: 'test', correlationId: 'c', causationId: null },
    }));
    await hub.runtime.store.append(`${stream}-${Math.floor(i / 500)}`, events);
  }
};

/**
 * A client that sends the request, takes the first bytes of the answer (the stream is open once its status
 * line came: the hub counted it) and then reads nothing more (the socket's buffers fill, then the hub's).
 */
const nonReader = (hub: TestHub, key: string) =>
  new Promise<net.Socket>((resolve, reject) => {
    const { hostname, port } = new URL(hub.url);
    const socket = net.connect({ host: hostname, port: Number(port) }, () => {
      socket.write(`GET /api/events HTTP/1.1\r\nHost: ${hostname}\r\nX-API-Key: ${key}\r\n\r\n`);
    });
    const timer = setTimeout(() => reject(new Error('a non-reader got no answer in 60 s')), 60_000);
    socket.once('data', (head: Buffer) => {
      clearTimeout(timer);
      socket.pause();
      const status = head.toString('latin1').split('\r\n')[0];
      if (status?.startsWith('HTTP/1.1 200')) resolve(socket);
      else reject(new Error(`a non-reader was answered ${status}`));
    });
    socket.once('error', reject);
  });

/** Reads the stream until `enough(count)`; returns how many events came and the tenants they named. */
const reader = async (hub: TestHub, key: string, enough: (n: number) => boolean, signal: AbortSignal) => {
  const res = await fetch(`${hub.url}/api/events?types=NoiseRecorded`, {
    headers: { 'X-API-Key': key },
    signal,
  });
  assert.is(res.status, 200);
  const tenants = new Set<string>();
  let count = 0;
  for await (const e of readSse(res)) {
    tenants.add((e.data as { metadata: { tenant: string } }).metadata.tenant);
    if (enough(++count)) break;
  }
  return { count, tenants };
};

const sendMessage = async (hub: TestHub, key: string) => {
  const t0 = performance.now();
  const res = await fetch(`${hub.url}/a2a/jsonrpc`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'A2A-Version': '1.0', 'X-API-Key': key },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'SendMessage',
      params: { message: { messageId: randomUUID(), role: 'ROLE_USER', parts: [{ text: 'hello' }] } },
    }),
  });
  const body = (await res.json()) as { result?: unknown; error?: unknown };
  assert.ok(body.result, JSON.stringify(body.error));
  return performance.now() - t0;
};

const keyAccepted = (hub: TestHub, key: string) =>
  waitFor('the key accepted', async () => {
    const res = await fetch(`${hub.url}/api/events?after=0`, { headers: { 'X-API-Key': key } });
    await res.body?.cancel();
    return res.status !== 401;
  });

/** A stream with nothing to send (no such events), so it never stalls and stays open until aborted. */
const open = (hub: TestHub, key: string, signal: AbortSignal) =>
  fetch(`${hub.url}/api/events?types=NothingOfThatType`, { headers: { 'X-API-Key': key }, signal });

for (const kind of await runtimesFor('event stream isolation')) {
  const s = suite(`events isolation (${kind})`);
  let hub: TestHub;
  let keyA: string;
  let keyB1: string;
  let keyB2: string;
  s.before(async () => {
    hub = await startHub(kind, { env: limits });
    keyA = await hub.addTenant('hostile-a');
    keyB1 = await hub.addTenant('hostile-b');
    keyB2 = await hub.addTenant('hostile-b');
    for (const k of [keyA, keyB1, keyB2]) await keyAccepted(hub, k);
  });
  s.after(async () => hub?.stop());

  s(
    'A writes MBs while 50 of B’s streams do not read: heap bounded, B gets only its events, A stays fast',
    async () => {
      // 6 MB of B's own: more than a socket's buffers hold (about 4 MB on loopback), so non-readers stall
      const B_EVENTS = 3000;
      await writeEvents(hub, 'hostile-b', 'noise-b', B_EVENTS, 2000);
      await writeEvents(hub, 'hostile-a', 'noise-a', 900, 10_000); // 9 MB of A's
      const quiet: number[] = [];
      for (let i = 0; i < 5; i++) quiet.push(await sendMessage(hub, keyA));
      gc();
      const baseline = heapMb();
      let peak = baseline;
      const sampler = setInterval(() => {
        peak = Math.max(peak, heapMb());
      }, 50);
      const stop = new AbortController();
      const sockets: net.Socket[] = [];
      // What the streams hold, garbage collected first (heapUsed between collections is mostly garbage).
      let held = 0;
      const measureHeld = setInterval(() => {
        gc();
        held = Math.max(held, heapMb() - baseline);
      }, 2000);
      try {
        for (let i = 0; i < 50; i++) sockets.push(await nonReader(hub, i < PER_KEY ? keyB1 : keyB2));
        const readers = [0, 1, 2].map(() => reader(hub, keyB2, (n) => n >= B_EVENTS, stop.signal));
        // A keeps writing (another 9 MB) and sending while B's streams are open
        const writing = writeEvents(hub, 'hostile-a', 'noise-a2', 900, 10_000);
        const busy: number[] = [];
        for (let i = 0; i < 10; i++) busy.push(await sendMessage(hub, keyA));
        await writing;
        for (const r of await Promise.all(readers)) {
          assert.is(r.count, B_EVENTS, 'a reading stream gets every one of B’s events');
          assert.equal([...r.tenants], ['hostile-b'], 'and none of A’s');
        }
        // The non-readers stalled (6 MB is more than their sockets take): dropped after STALL_MS, so the
        // key's streams are free again.
        const t0 = Date.now();
        await waitFor(
          'the stalled streams dropped',
          async () => {
            const res = await open(hub, keyB1, stop.signal);
            await res.body?.cancel();
            return res.status === 200;
          },
          STALL_MS + 30_000,
        );
        const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
        console.log(
          `  ${kind}: heap baseline ${baseline.toFixed(0)} MB, peak +${(peak - baseline).toFixed(0)} MB, held at most +${held.toFixed(0)} MB (after gc) with 50 stalled streams; stalled streams dropped ${((Date.now() - t0) / 1000).toFixed(1)} s after B's readers finished; A's SendMessage median ${median(quiet).toFixed(0)} ms quiet, ${median(busy).toFixed(0)} ms (max ${Math.max(...busy).toFixed(0)}) with B's 53 streams open`,
        );
        assert.ok(held < 60, `50 stalled streams held ${held.toFixed(0)} MB of heap (at most 60)`);
        assert.ok(
          peak - baseline < 400,
          `the heap peaked ${(peak - baseline).toFixed(0)} MB above its baseline`,
        );
        assert.ok(median(busy) < 1000, `A's SendMessage median ${median(busy).toFixed(0)} ms (under 1 s)`);
      } finally {
        clearInterval(sampler);
        clearInterval(measureHeld);
        stop.abort();
        for (const socket of sockets) socket.destroy();
      }
    },
  );

  s(
    'at most PER_KEY streams per key and PER_TENANT per tenant: one more is 429, another tenant is unaffected',
    async () => {
      const stop = new AbortController();
      try {
        // The previous test's streams are released once the hub has seen their connections close.
        const first = await waitFor('PER_KEY streams open on one key', async () => {
          const attempt = await Promise.all(
            Array.from({ length: PER_KEY }, () => open(hub, keyB1, stop.signal)),
          );
          if (attempt.every((r) => r.status === 200)) return attempt;
          for (const r of attempt) await r.body?.cancel();
          await new Promise((r) => setTimeout(r, 200));
        });
        const overKey = await open(hub, keyB1, stop.signal);
        assert.is(overKey.status, 429);
        const keyBody = (await overKey.json()) as { error: { status: string; message: string } };
        assert.is(keyBody.error.status, 'RESOURCE_EXHAUSTED');
        assert.match(keyBody.error.message, /AGENTCORE_MAX_EVENT_STREAMS_PER_KEY/);
        const rest = await Promise.all(
          Array.from({ length: PER_TENANT - PER_KEY }, () => open(hub, keyB2, stop.signal)),
        );
        assert.ok(rest.every((r) => r.status === 200));
        const overTenant = await open(hub, keyB2, stop.signal);
        assert.is(overTenant.status, 429);
        assert.match(
          ((await overTenant.json()) as { error: { message: string } }).error.message,
          /tenant hostile-b .*AGENTCORE_MAX_EVENT_STREAMS_PER_TENANT/,
        );
        const other = await open(hub, keyA, stop.signal);
        assert.is(other.status, 200, 'another tenant still opens streams');
        await first[0]!.body?.cancel();
        await waitFor('a closed stream frees its place', async () => {
          const res = await fetch(`${hub.url}/api/events`, {
            headers: { 'X-API-Key': keyB1 },
            signal: stop.signal,
          });
          if (res.status !== 200) await res.body?.cancel();
          return res.status === 200;
        });
      } finally {
        stop.abort();
      }
    },
  );

  s('an API key’s hash is never served: ApiKeyIssued comes redacted', async () => {
    const stop = new AbortController();
    try {
      // (the previous test's streams may still be closing)
      const res = await waitFor('a stream of ApiKeyIssued', async () => {
        const r = await fetch(`${hub.url}/api/events?types=ApiKeyIssued`, {
          headers: { 'X-API-Key': keyB1 },
          signal: stop.signal,
        });
        if (r.status !== 429) return r;
        await r.body?.cancel();
      });
      assert.is(res.status, 200);
      const seen: Array<{ data: { keyHash?: string; keyId?: string } }> = [];
      for await (const e of readSse(res)) {
        seen.push(e.data as (typeof seen)[number]);
        if (seen.length === 2) break;
      }
      assert.is(seen.length, 2, 'both of B’s keys');
      for (const e of seen) {
        assert.is(e.data.keyHash, '[redacted]');
        assert.ok(e.data.keyId, 'the rest of the event is there');
      }
    } finally {
      stop.abort();
    }
  });

  s.run();

  const RATE = 1 * MB;
  const r = suite(`event stream byte rate (${kind})`);
  let rateHub: TestHub;
  let keyC: string;
  let keyD: string;
  r.before(async () => {
    rateHub = await startHub(kind, { env: { AGENTCORE_EVENT_STREAM_BYTES_PER_SECOND: String(RATE) } });
    keyC = await rateHub.addTenant('rate-c');
    keyD = await rateHub.addTenant('rate-d');
    for (const k of [keyC, keyD]) await keyAccepted(rateHub, k);
  });
  r.after(async () => rateHub?.stop());

  r(
    'one tenant’s streams together send at most the byte rate; another tenant’s are not held back',
    async () => {
      await writeEvents(rateHub, 'rate-c', 'rate-c', 300, 10_000); // 3 MB of C's
      await writeEvents(rateHub, 'rate-d', 'rate-d', 50, 10_000); // 0.5 MB of D's
      const stop = new AbortController();
      try {
        const timedReader = async (key: string, count: number) => {
          const t0 = performance.now();
          const got = await reader(rateHub, key, (n) => n >= count, stop.signal);
          return { ...got, seconds: (performance.now() - t0) / 1000 };
        };
        // C replays its 3 MB on two streams at once (6 MB, less one second's burst, at 1 MB/s: 5 s or more);
        // D, started a moment later, reads its 0.5 MB at once.
        const c = [timedReader(keyC, 300), timedReader(keyC, 300)];
        await new Promise((r) => setTimeout(r, 500));
        const d = await timedReader(keyD, 50);
        const cs = await Promise.all(c);
        console.log(
          `  ${kind}: C's two streams of 3 MB took ${cs.map((x) => x.seconds.toFixed(1)).join(' and ')} s at 1 MB/s; D's 0.5 MB ${d.seconds.toFixed(2)} s`,
        );
        for (const x of cs) {
          assert.is(x.count, 300);
          assert.equal([...x.tenants], ['rate-c']);
        }
        // The two together: 6 MB, one second's worth at once, the rest at 1 MB/s.
        const last = Math.max(...cs.map((x) => x.seconds));
        assert.ok(last >= 4.5, `C's 6 MB in ${last.toFixed(1)} s: faster than 1 MB/s`);
        assert.is(d.count, 50);
        assert.ok(
          d.seconds < Math.min(...cs.map((x) => x.seconds)) - 1,
          `D (${d.seconds.toFixed(1)} s) waited on C's rate`,
        );
      } finally {
        stop.abort();
      }
    },
  );

  r.run();
}
