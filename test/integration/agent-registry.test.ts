/**
 * The agent registry end to end, on both runtimes, against REAL remote A2A agents on loopback
 * (test/support/remote-agents.ts: a v1.0 and a v0.3 server built with @a2a-js/sdk): registration by URL
 * through the admin API, listing with the built-in agents, disable/enable/update/deregister, card refresh
 * (304 revalidation, then a changed card), the refresh saga, SSRF refusal, invalid cards, tenant
 * isolation, and the `agentcore agents` CLI.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Agent } from '../../agents/agent.ts';
import { registerInProcessAgents } from '../../agents/registry.ts';
import { agentStream, SYSTEM_TENANT } from '../../events/agent.ts';
import type { RecordedEvent } from '../../events/envelope.ts';
import type { AgentView } from '../../projections/agents.ts';
import { startCardRefresh } from '../../sagas/card-refresh.ts';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { type RemoteAgent, startRemoteAgent } from '../support/remote-agents.ts';
import { waitFor as waitUntil } from '../support/wait.ts';

const root = new URL('../..', import.meta.url).pathname;

const waitFor = <T>(what: string, f: () => Promise<T | undefined | false | null>, timeoutMs = 45_000) =>
  waitUntil(what, f, timeoutMs);

interface Reply<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}
interface ErrorBody {
  error: { code: number; status: string; message: string; reason?: string };
}

/** A server that serves a fixed (bad) card. */
const cardServer = async (card: unknown) => {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(card));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
};

const runCli = (args: string[], env: Record<string, string> = {}) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bin/agentcore.ts', 'agents', ...args], {
      cwd: root,
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });

const kinds = await runtimesFor('agent registry');

const translatorSkills = [
  {
    id: 'translate',
    name: 'Translate',
    description: 'Translates text between languages',
    tags: ['language', 'translation'],
  },
];
const weatherSkills = [
  { id: 'forecast', name: 'Forecast', description: 'Weather forecast for a city', tags: ['weather'] },
];

for (const kind of kinds) {
  const s = suite(`agent registry (${kind})`);
  let hub: TestHub;
  let v1: RemoteAgent;
  let v03: RemoteAgent;
  let otherKey: string;

  const api = async <T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    key: string | null = hub.apiKey,
    rawBody?: string,
  ): Promise<Reply<T>> => {
    const res = await fetch(`${hub.url}/api/admin${path}`, {
      method,
      headers: {
        ...(key ? { 'x-api-key': key } : {}),
        ...(body !== undefined || rawBody !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(rawBody !== undefined
        ? { body: rawBody }
        : body !== undefined
          ? { body: JSON.stringify(body) }
          : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T, headers: res.headers };
  };
  const events = (tenant: string, agentId: string) =>
    hub.runtime.store.readStream(agentStream(tenant, agentId));
  const types = (es: RecordedEvent[]) => es.map((e) => e.type);
  const listed = async (key = hub.apiKey) =>
    (await api<{ agents: AgentView[] }>('GET', '/agents', undefined, key)).body.agents;
  const listedWhen = (what: string, ok: (agents: AgentView[]) => boolean, key = hub.apiKey) =>
    waitFor(what, async () => {
      const agents = await listed(key);
      return ok(agents) ? agents : null;
    });
  const expectError = (r: Reply<unknown>, status: number, message?: RegExp) => {
    assert.is(r.status, status, JSON.stringify(r.body));
    const e = (r.body as ErrorBody).error;
    assert.is(e.code, status);
    assert.type(e.status, 'string');
    if (message) assert.match(e.message, message);
    return e;
  };

  s.before(async () => {
    hub = await startHub(kind);
    [v1, v03] = await Promise.all([
      startRemoteAgent({
        version: '1.0',
        name: 'Translator One',
        skills: translatorSkills,
        maxAgeSeconds: 300,
      }),
      startRemoteAgent({
        version: '0.3',
        name: 'Legacy Weather',
        skills: weatherSkills,
        streaming: false,
        maxAgeSeconds: 300,
      }),
    ]);
    otherKey = await hub.addTenant('other');
    // On the distributed runtime a new key reaches the read model a little later.
    await waitFor(
      'the other tenant key accepted',
      async () => (await api('GET', '/agents', undefined, otherKey)).status === 200,
    );
  });
  s.after(async () => {
    await Promise.all([v1?.stop(), v03?.stop()]);
    await hub?.stop();
  });

  s('no key is 401; the built-in agents are registered under the system tenant and listed', async () => {
    expectError(await api('GET', '/agents', undefined, null), 401, /API key/);
    expectError(await api('GET', '/agents', undefined, 'wrong-key'), 401);
    const agents = await listedWhen('built-in agents listed', (a) => a.some((x) => x.agentId === 'scenario'));
    const scenario = agents.find((a) => a.agentId === 'scenario')!;
    assert.is(scenario.builtIn, true);
    assert.is(scenario.tenant, SYSTEM_TENANT);
    assert.equal(scenario.endpoint, { kind: 'in-process' });
    assert.ok(agents.some((a) => a.agentId === 'echo'));
    assert.is(types(await events(SYSTEM_TENANT, 'scenario')).join(), 'AgentRegistered');
    // Registering the in-process agents again (another process starting) writes nothing.
    const again = await registerInProcessAgents(hub.runtime.store, hub.runtime.agents);
    assert.ok(
      again.every((o) => o.outcome === 'unchanged'),
      JSON.stringify(again),
    );
    assert.is((await events(SYSTEM_TENANT, 'scenario')).length, 1);
  });

  s(
    'in-process registration: concurrent start-ups write once; a changed definition is a refresh',
    async () => {
      const agent = (description: string): Agent => ({
        id: 'test-builtin',
        name: 'Test built-in',
        description,
        skills: [{ id: 'noop', name: 'No-op', description: 'Does nothing', tags: ['test'] }],
        async *run() {},
      });
      const store = hub.runtime.store;
      const first = await Promise.all([0, 1, 2].map(() => registerInProcessAgents(store, [agent('v1')])));
      // Each start-up registers (the same command: the others replay it) or, if it reads the stream after
      // another's append, finds the agent as defined: either way one AgentRegistered is written.
      const outcomes = first.map((o) => o[0]!.outcome);
      assert.ok(outcomes.includes('registered'), JSON.stringify(outcomes));
      assert.ok(
        outcomes.every((o) => o === 'registered' || o === 'unchanged'),
        JSON.stringify(outcomes),
      );
      assert.equal(types(await events(SYSTEM_TENANT, 'test-builtin')), ['AgentRegistered']);
      assert.equal(await registerInProcessAgents(store, [agent('v1')]), [
        { agentId: 'test-builtin', outcome: 'unchanged' },
      ]);
      await Promise.all([0, 1].map(() => registerInProcessAgents(store, [agent('v2')])));
      const es = await events(SYSTEM_TENANT, 'test-builtin');
      assert.equal(types(es), ['AgentRegistered', 'AgentCardRefreshed']);
      assert.is((es[1]!.data as { description: string }).description, 'v2');
      assert.is(es[1]!.metadata.principal, 'system:start-up');
      await api('GET', '/agents/test-builtin').then((r) =>
        assert.is((r.body as unknown as AgentView).description, 'v2'),
      );
    },
  );

  s('register the v1.0 agent by its base URL: 201, card validated, JSON-RPC 1.0 with streaming', async () => {
    const r = await api<AgentView>('POST', '/agents', { url: v1.url, costPerRequest: 0.02 });
    assert.is(r.status, 201, JSON.stringify(r.body));
    assert.is(r.headers.get('location'), '/api/admin/agents/translator-one');
    const a = r.body;
    assert.is(a.agentId, 'translator-one');
    assert.is(a.tenant, 'default');
    assert.is(a.name, 'Translator One');
    assert.is(a.status, 'active');
    assert.is(a.costPerRequest, 0.02);
    assert.equal(a.endpoint, {
      kind: 'remote',
      cardUrl: v1.cardUrl,
      url: v1.rpcUrl,
      protocolBinding: 'JSONRPC',
      protocolVersion: '1.0',
      streaming: true,
    });
    assert.equal(
      a.skills.map((x) => x.id),
      ['translate'],
    );
    assert.is(a.validators?.etag, v1.etag());
    assert.is(a.validators?.maxAgeSeconds, 300);
    const es = await events('default', 'translator-one');
    assert.equal(types(es), ['AgentRegistered']);
    assert.is(es[0]!.metadata.tenant, 'default');
    assert.match(es[0]!.metadata.principal, /^apikey:default\//);
  });

  s('register the v0.3 agent by its card URL with an id: normalised, JSON-RPC 0.3', async () => {
    const r = await api<AgentView>('POST', '/agents', {
      url: v03.cardUrl,
      agentId: 'weather',
      costPerRequest: 0.25,
    });
    assert.is(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.endpoint, {
      kind: 'remote',
      cardUrl: v03.cardUrl,
      url: v03.rpcUrl,
      protocolBinding: 'JSONRPC',
      protocolVersion: '0.3',
      streaming: false,
    });
    const card = (await api<AgentView>('GET', '/agents/weather')).body.card as Record<string, unknown>;
    assert.equal(card.supportedInterfaces, [
      { url: v03.rpcUrl, protocolBinding: 'JSONRPC', protocolVersion: '0.3.0' },
    ]);
    assert.is(card.url, undefined);
  });

  s("listing: the tenant's agents first, then the built-in ones; no card in the list", async () => {
    const agents = await listedWhen('both remote agents listed', (a) =>
      ['translator-one', 'weather'].every((id) => a.some((x) => x.agentId === id)),
    );
    assert.equal(agents.map((a) => a.agentId).slice(0, 2), ['translator-one', 'weather']);
    assert.ok(agents.slice(2).every((a) => a.builtIn));
    assert.is((agents[0] as { card?: unknown }).card, undefined);
    const one = await api<AgentView>('GET', '/agents/translator-one');
    assert.is(one.status, 200);
    assert.is((one.body.card as { name: string }).name, 'Translator One');
    expectError(await api('GET', '/agents/nope'), 404, /agent nope not found/);
    expectError(await api('GET', '/agents/Not%20An%20Id'), 404);
  });

  s("registering again is 409: the same id, the same URL, or a built-in agent's id", async () => {
    expectError(
      await api('POST', '/agents', { url: v03.url, agentId: 'weather' }),
      409,
      /agent weather is already registered/,
    );
    expectError(await api('POST', '/agents', { url: v1.url }), 409, /already registered as translator-one/);
    expectError(
      await api('POST', '/agents', { url: v1.url, agentId: 'echo' }),
      409,
      /taken by a built-in agent/,
    );
    assert.is((await events('default', 'weather')).length, 1);
  });

  s('bad input is 400 with readable messages', async () => {
    expectError(await api('POST', '/agents', {}), 400, /^url: required$/);
    expectError(
      await api('POST', '/agents', { url: 'not a url' }),
      400,
      /url: must be an absolute http\(s\) URL/,
    );
    expectError(
      await api('POST', '/agents', { url: v1.url, costPerRequest: -1 }),
      400,
      /costPerRequest: Too small/,
    );
    expectError(
      await api('POST', '/agents', { url: v1.url, agentId: 'Bad Id' }),
      400,
      /agentId: agent ids are 1-63 chars/,
    );
    expectError(
      await api('POST', '/agents', { url: v1.url, colour: 'blue' }),
      400,
      /Unrecognized key: "colour"/,
    );
    expectError(await api('POST', '/agents', undefined, hub.apiKey, '{nope'), 400, /not valid JSON/);
    expectError(await api('PATCH', '/agents/weather', {}), 400, /give costPerRequest and\/or description/);
    expectError(await api('POST', '/agents/weather/disable', {}), 400, /^reason: required$/);
  });

  s('disable (with a reason), enable, update: each an event with tenant and principal', async () => {
    const d = await api<AgentView>('POST', '/agents/weather/disable', { reason: 'maintenance window' });
    assert.is(d.status, 200);
    assert.is(d.body.status, 'disabled');
    assert.is(d.body.disabledReason, 'maintenance window');
    await listedWhen(
      'weather listed as disabled',
      (a) => a.find((x) => x.agentId === 'weather')?.status === 'disabled',
    );
    const e = await api<AgentView>('POST', '/agents/weather/enable');
    assert.is(e.body.status, 'active');
    const u = await api<AgentView>('PATCH', '/agents/weather', {
      costPerRequest: 0.5,
      description: 'Forecasts',
    });
    assert.is(u.body.costPerRequest, 0.5);
    assert.is(u.body.description, 'Forecasts');
    const es = await events('default', 'weather');
    assert.equal(types(es), ['AgentRegistered', 'AgentDisabled', 'AgentEnabled', 'AgentUpdated']);
    assert.ok(
      es.every((x) => x.metadata.tenant === 'default' && x.metadata.principal.startsWith('apikey:default/')),
    );
  });

  s('an Idempotency-Key makes a retried request a no-op', async () => {
    const once = async () =>
      fetch(`${hub.url}/api/admin/agents/weather/disable`, {
        method: 'POST',
        headers: { 'x-api-key': hub.apiKey, 'content-type': 'application/json', 'idempotency-key': 'k-1' },
        body: JSON.stringify({ reason: 'retry me' }),
      });
    assert.is((await once()).status, 200);
    await api('POST', '/agents/weather/enable');
    assert.is((await once()).status, 200); // the same key again: recorded already, not disabled twice
    const es = await events('default', 'weather');
    assert.equal(types(es).slice(-2), ['AgentDisabled', 'AgentEnabled']);
  });

  s('refresh: an unchanged card is a 304 revalidation; a changed card is AgentCardRefreshed', async () => {
    const before = v1.cardFetches();
    const r1 = await api<{ outcome: string; agent: AgentView }>('POST', '/agents/translator-one/refresh');
    assert.is(r1.status, 200, JSON.stringify(r1.body));
    assert.is(r1.body.outcome, 'revalidated');
    assert.is(v1.cardFetches().notModified, before.notModified + 1, 'the remote answered 304');
    v1.updateCard({
      skills: [
        ...translatorSkills,
        { id: 'summarise', name: 'Summarise', description: 'Summarises long text', tags: ['summary'] },
      ],
      cardVersion: '1.1.0',
    });
    const r2 = await api<{ outcome: string; agent: AgentView }>('POST', '/agents/translator-one/refresh');
    assert.is(r2.body.outcome, 'refreshed');
    assert.equal(
      r2.body.agent.skills.map((x) => x.id),
      ['translate', 'summarise'],
    );
    assert.is(r2.body.agent.cardVersion, '1.1.0');
    assert.is(r2.body.agent.validators?.etag, v1.etag());
    const es = await events('default', 'translator-one');
    assert.equal(types(es), ['AgentRegistered', 'AgentCardRevalidated', 'AgentCardRefreshed']);
    // Unconditional: the same card fetched in full is still only a revalidation.
    const r3 = await api<{ outcome: string }>('POST', '/agents/translator-one/refresh?unconditional=true');
    assert.is(r3.body.outcome, 'revalidated');
    expectError(await api('POST', '/agents/scenario/refresh'), 403, /built into the hub/);
  });

  s('an invalid card is 422 naming the issue; nothing is recorded', async () => {
    const bad = await cardServer({
      name: 'Broken',
      description: 'no interfaces, a skill without tags',
      supportedInterfaces: [],
      version: '1',
      capabilities: {},
      defaultInputModes: ['text/plain'],
      defaultOutputModes: ['text/plain'],
      skills: [{ id: 's', name: 'S', description: 'd' }],
    });
    try {
      const e = expectError(await api('POST', '/agents', { url: bad.url }), 422);
      assert.is(e.reason, 'CARD_INVALID');
      assert.match(e.message, /supportedInterfaces: must hold at least one element/);
      assert.match(e.message, /skills\.0\.tags: required array is missing/);
      assert.is((await events('default', 'broken')).length, 0);
    } finally {
      await bad.close();
    }
    const gone = expectError(await api('POST', '/agents', { url: 'http://127.0.0.1:9/' }), 422);
    assert.is(gone.reason, 'CARD_UNREACHABLE');
  });

  s(
    'another tenant cannot see or change the agent (404), sees the built-ins, and has its own namespace',
    async () => {
      expectError(await api('GET', '/agents/weather', undefined, otherKey), 404);
      expectError(await api('PATCH', '/agents/weather', { costPerRequest: 9 }, otherKey), 404);
      expectError(await api('POST', '/agents/weather/disable', { reason: 'x' }, otherKey), 404);
      expectError(await api('POST', '/agents/weather/refresh', undefined, otherKey), 404);
      expectError(await api('DELETE', '/agents/weather', undefined, otherKey), 404);
      const theirs = await listed(otherKey);
      assert.not.ok(theirs.some((a) => a.tenant === 'default'));
      assert.ok(theirs.some((a) => a.agentId === 'scenario'));
      assert.is((await api<AgentView>('GET', '/agents/scenario', undefined, otherKey)).status, 200);
      // A built-in agent is visible but not theirs to change.
      expectError(
        await api('POST', '/agents/scenario/disable', { reason: 'x' }, otherKey),
        403,
        /only the system tenant/,
      );
      // The same URL and id in another tenant is another agent.
      const r = await api<AgentView>('POST', '/agents', { url: v03.url, agentId: 'weather' }, otherKey);
      assert.is(r.status, 201, JSON.stringify(r.body));
      assert.is(r.body.tenant, 'other');
      assert.is(
        (await api<AgentView>('GET', '/agents/weather')).body.costPerRequest,
        0.5,
        'ours is untouched',
      );
      // Acting for a tenant the key may not act for.
      expectError(await api('GET', '/agents?tenant=other'), 403, /may not act for tenant "other"/);
    },
  );

  s('deregister: 204, then 404 and out of the list; the id can be registered again', async () => {
    const r = await api('DELETE', '/agents/weather');
    assert.is(r.status, 204);
    expectError(await api('GET', '/agents/weather'), 404);
    expectError(await api('DELETE', '/agents/weather'), 404);
    await listedWhen('weather gone from the list', (a) => !a.some((x) => x.agentId === 'weather'));
    const again = await api<AgentView>('POST', '/agents', { url: v03.url, agentId: 'weather' });
    assert.is(again.status, 201, JSON.stringify(again.body));
    assert.equal(types(await events('default', 'weather')).slice(-2), [
      'AgentDeregistered',
      'AgentRegistered',
    ]);
  });

  s(
    'the refresh saga: due cards revalidated with If-None-Match (no stampede), changed cards refreshed',
    async () => {
      const fast = await startRemoteAgent({
        version: '1.0',
        name: 'Fast Cache',
        skills: translatorSkills,
        maxAgeSeconds: 1,
      });
      const log = hub.runtime.log;
      // Two copies of the saga, as two saga processes would run: one event per due fetch, not two.
      const sagas = [0, 1].map(() =>
        startCardRefresh({
          store: hub.runtime.store,
          db: hub.runtime.db,
          log,
          allowPrivateUrls: true,
          minIntervalSeconds: 1,
          tickMs: 100,
        }),
      );
      try {
        const r = await api<AgentView>('POST', '/agents', { url: fast.url, agentId: 'fast' });
        assert.is(r.status, 201);
        const revalidated = await waitFor('a revalidation by the saga', async () => {
          const es = await events('default', 'fast');
          return es.find((e) => e.type === 'AgentCardRevalidated');
        });
        assert.is(revalidated.metadata.principal, 'system:card-refresh');
        assert.ok(fast.cardFetches().notModified >= 1, 'conditional requests answered 304');
        fast.updateCard({ description: 'Now with a changed card' });
        await waitFor('the changed card refreshed by the saga', async () =>
          (await events('default', 'fast')).some((e) => e.type === 'AgentCardRefreshed'),
        );
        // Refreshes are spaced by max-age (1 s here), whatever the tick (100 ms) and the number of copies.
        const started = fast.cardFetches().total;
        await new Promise((r) => setTimeout(r, 2500));
        const fetched = fast.cardFetches().total - started;
        assert.ok(fetched <= 6, `at most about one fetch per second per copy, got ${fetched} in 2.5 s`);
        const es = await events('default', 'fast');
        const due = es
          .filter((e) => e.type !== 'AgentRegistered')
          .map((e) => (e.data as { validators: { fetchedAt: string } }).validators.fetchedAt);
        assert.ok(es.length <= 8, `no event stampede: ${es.length} events`);
        assert.is(new Set(due).size, due.length);
      } finally {
        await Promise.all(sagas.map((x) => x.stop()));
        await api('DELETE', '/agents/fast'); // else the hub's own saga would refresh it later
        await fast.stop();
      }
    },
  );

  if (kind === 'embedded') {
    s('CLI: agentcore agents register / list / disable / refresh / deregister against the hub', async () => {
      const cliAgent = await startRemoteAgent({ version: '1.0', name: 'CLI Agent', skills: weatherSkills });
      try {
        const env = { AGENTCORE_API_KEY: hub.apiKey };
        const reg = await runCli(
          ['register', cliAgent.url, '--id', 'cli-agent', '--cost', '1.5', '--hub', hub.url],
          env,
        );
        assert.is(reg.code, 0, reg.stderr);
        assert.match(reg.stdout, /registered cli-agent +CLI Agent +active +cost=1\.5/);
        await listedWhen('cli-agent listed', (a) => a.some((x) => x.agentId === 'cli-agent'));
        const list = await runCli(['list', '--hub', hub.url], env);
        assert.is(list.code, 0, list.stderr);
        assert.match(list.stdout, /cli-agent +CLI Agent +active/);
        assert.match(list.stdout, /scenario \[built-in\]/);
        const dis = await runCli(
          ['disable', 'cli-agent', '--reason', 'going away', '--hub', hub.url, '--json'],
          env,
        );
        assert.is(dis.code, 0, dis.stderr);
        assert.is(JSON.parse(dis.stdout).status, 'disabled');
        const ref = await runCli(['refresh', 'cli-agent', '--hub', hub.url], env);
        assert.is(ref.code, 0, ref.stderr);
        assert.match(ref.stdout, /^revalidated: cli-agent/, ref.stdout);
        const dereg = await runCli(['deregister', 'cli-agent', '--hub', hub.url], env);
        assert.is(dereg.code, 0, dereg.stderr);
        const missing = await runCli(['enable', 'cli-agent', '--hub', hub.url], env);
        assert.is(missing.code, 1);
        assert.match(missing.stderr, /404 NOT_FOUND: agent cli-agent not found/);
        const noKey = await runCli(['list', '--hub', hub.url], { AGENTCORE_API_KEY: '' });
        assert.is(noKey.code, 2);
        assert.match(noKey.stderr, /an API key is required/);
      } finally {
        await cliAgent.stop();
      }
    });
  }

  s.run();
}

// SSRF: a hub that does not allow private URLs refuses a loopback agent (card and interfaces).
for (const kind of kinds) {
  const s = suite(`agent registry SSRF (${kind})`);
  let hub: TestHub;
  let agent: RemoteAgent;
  s.before(async () => {
    hub = await startHub(kind, { env: { AGENTCORE_ALLOW_PRIVATE_URLS: 'false' } });
    agent = await startRemoteAgent({ version: '1.0', name: 'Local Only', skills: weatherSkills });
  });
  s.after(async () => {
    await agent?.stop();
    await hub?.stop();
  });
  s('registering a loopback agent is 422 URL_NOT_ALLOWED, and nothing is fetched', async () => {
    for (const url of [agent.url, `http://localhost:${new URL(agent.url).port}`]) {
      const res = await fetch(`${hub.url}/api/admin/agents`, {
        method: 'POST',
        headers: { 'x-api-key': hub.apiKey, 'content-type': 'application/json' },
        body: JSON.stringify({ url }),
      });
      const body = (await res.json()) as ErrorBody;
      assert.is(res.status, 422, JSON.stringify(body));
      assert.is(body.error.reason, 'URL_NOT_ALLOWED');
      assert.match(body.error.message, /loopback address: only public addresses may be called/);
    }
    assert.is(agent.cardFetches().total, 0);
  });
  s.run();
}
