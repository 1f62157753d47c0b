/**
 * Agent cards: v1.0 validation with readable issues, v0.3 normalisation, endpoint choice, and the fetch
 * (conditional requests, 304, size and time limits, SSRF on the card URL and on every interface URL)
 * with a fake transport and resolver: nothing leaves the process.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  AgentCardError,
  type AgentCardV1,
  cardUrlOf,
  chooseEndpoint,
  fetchAgentCard,
  maxAgeOf,
  parseAgentCard,
  protocolLine,
} from '../../agents/cards.ts';
import { slugOf } from '../../agents/registry.ts';
import type { Lookup } from '../../infra/ssrf.ts';

// ---- fixture cards --------------------------------------------------------------------------------------

const v1Card = () => ({
  name: 'Currency Agent',
  description: 'Converts amounts between currencies',
  supportedInterfaces: [
    { url: 'https://fx.example/a2a/grpc', protocolBinding: 'GRPC', protocolVersion: '1.0' },
    { url: 'https://fx.example/a2a/rest', protocolBinding: 'HTTP+JSON', protocolVersion: '1.0' },
    { url: 'https://fx.example/a2a/jsonrpc', protocolBinding: 'JSONRPC', protocolVersion: '1.0' },
  ],
  provider: { organization: 'FX Inc', url: 'https://fx.example' },
  version: '2.1.0',
  capabilities: { streaming: true, pushNotifications: false },
  securitySchemes: { bearer: { httpAuthSecurityScheme: { scheme: 'Bearer' } } },
  securityRequirements: [{ schemes: { bearer: { list: [] } } }],
  defaultInputModes: ['text/plain'],
  defaultOutputModes: ['text/plain', 'application/json'],
  skills: [
    {
      id: 'convert',
      name: 'Convert currency',
      description: 'Converts an amount from one currency to another at today’s rate',
      tags: ['finance', 'currency'],
      examples: ['How much is 100 USD in EUR?'],
    },
  ],
  someFutureField: { ignored: true },
});

const v03Card = () => ({
  protocolVersion: '0.3.0',
  name: 'Legacy Weather',
  description: 'Weather forecasts (a v0.3 agent)',
  url: 'https://weather.example/a2a/jsonrpc',
  preferredTransport: 'JSONRPC',
  additionalInterfaces: [
    { url: 'https://weather.example/a2a/jsonrpc', transport: 'JSONRPC' },
    { url: 'https://weather.example/a2a/rest', transport: 'HTTP+JSON' },
  ],
  version: '0.9.1',
  capabilities: { streaming: false, pushNotifications: true, stateTransitionHistory: true },
  securitySchemes: {
    key: { type: 'apiKey', in: 'header', name: 'X-Key', description: 'issued on request' },
    oidc: {
      type: 'openIdConnect',
      openIdConnectUrl: 'https://weather.example/.well-known/openid-configuration',
    },
  },
  security: [{ key: [] }],
  supportsAuthenticatedExtendedCard: true,
  defaultInputModes: ['text/plain'],
  defaultOutputModes: ['text/plain'],
  skills: [
    {
      id: 'forecast',
      name: 'Forecast',
      description: 'Weather forecast for a city',
      tags: ['weather'],
      security: [{ oidc: ['read'] }],
    },
  ],
});

const issueOf = (f: () => unknown): AgentCardError => {
  try {
    f();
  } catch (error) {
    assert.instance(error, AgentCardError);
    return error as AgentCardError;
  }
  throw new Error('expected an AgentCardError');
};

// ---- validation -----------------------------------------------------------------------------------------

test('a valid v1.0 card is accepted as is; unknown fields are dropped', () => {
  const { card, sourceVersion } = parseAgentCard(v1Card());
  assert.is(sourceVersion, '1.0');
  assert.is(card.name, 'Currency Agent');
  assert.is(card.supportedInterfaces.length, 3);
  assert.is((card as Record<string, unknown>).someFutureField, undefined);
  assert.equal(card.skills[0]?.tags, ['finance', 'currency']);
});

test('an invalid v1.0 card names every issue by its path, readably', () => {
  const bad = v1Card() as Record<string, unknown>;
  delete bad.description;
  bad.supportedInterfaces = [];
  bad.skills = [{ id: 'convert', name: 'Convert', tags: 'finance' }];
  bad.defaultOutputModes = [];
  const e = issueOf(() => parseAgentCard(bad, 'https://fx.example/.well-known/agent-card.json'));
  assert.is(e.reason, 'CARD_INVALID');
  assert.match(
    e.message,
    /^invalid v1\.0 agent card at https:\/\/fx\.example\/\.well-known\/agent-card\.json: /,
  );
  assert.match(e.message, /description: required string is missing/);
  assert.match(e.message, /supportedInterfaces: must hold at least one element/);
  assert.match(e.message, /skills\.0\.description: required string is missing/);
  assert.match(e.message, /skills\.0\.tags: Invalid input: expected array, received string/);
  assert.match(e.message, /defaultOutputModes: must hold at least one element/);
  assert.ok((e.issues?.length ?? 0) >= 5);
});

test('a card with neither supportedInterfaces nor a v0.3 url is reported as a v1.0 card missing them', () => {
  const { supportedInterfaces: _s, ...rest } = v1Card();
  const e = issueOf(() => parseAgentCard(rest));
  assert.match(e.message, /invalid v1\.0 agent card: supportedInterfaces: required array is missing/);
  assert.is(issueOf(() => parseAgentCard([1, 2])).reason, 'CARD_INVALID');
  assert.match(issueOf(() => parseAgentCard('x')).message, /not a JSON object/);
});

test('interface URLs must be absolute', () => {
  const bad = v1Card();
  bad.supportedInterfaces[2]!.url = '/a2a/jsonrpc';
  assert.match(
    issueOf(() => parseAgentCard(bad)).message,
    /supportedInterfaces\.2\.url: must be an absolute URL/,
  );
});

test('a v0.3 card is normalised to v1.0: interfaces, capabilities, security', () => {
  const { card, sourceVersion } = parseAgentCard(v03Card());
  assert.is(sourceVersion, '0.3');
  assert.equal(card.supportedInterfaces, [
    { url: 'https://weather.example/a2a/jsonrpc', protocolBinding: 'JSONRPC', protocolVersion: '0.3.0' },
    { url: 'https://weather.example/a2a/rest', protocolBinding: 'HTTP+JSON', protocolVersion: '0.3.0' },
  ]);
  assert.equal(card.capabilities, { streaming: false, pushNotifications: true, extendedAgentCard: true });
  assert.equal(card.securitySchemes, {
    key: { apiKeySecurityScheme: { location: 'header', name: 'X-Key', description: 'issued on request' } },
    oidc: {
      openIdConnectSecurityScheme: {
        openIdConnectUrl: 'https://weather.example/.well-known/openid-configuration',
      },
    },
  });
  assert.equal(card.securityRequirements, [{ schemes: { key: { list: [] } } }]);
  assert.equal(card.skills[0]?.securityRequirements, [{ schemes: { oidc: { list: ['read'] } } }]);
  const c = card as Record<string, unknown>;
  for (const gone of ['url', 'preferredTransport', 'additionalInterfaces', 'protocolVersion', 'security']) {
    assert.is(c[gone], undefined, gone);
  }
  // What comes out is a valid v1.0 card.
  assert.is(parseAgentCard(card).sourceVersion, '1.0');
});

test('a v0.3 card without preferredTransport is JSON-RPC; other versions are refused readably', () => {
  const { preferredTransport: _p, additionalInterfaces: _a, ...plain } = v03Card();
  assert.equal(parseAgentCard(plain).card.supportedInterfaces, [
    { url: 'https://weather.example/a2a/jsonrpc', protocolBinding: 'JSONRPC', protocolVersion: '0.3.0' },
  ]);
  const old = { ...v03Card(), protocolVersion: '0.2.5' };
  assert.match(
    issueOf(() => parseAgentCard(old)).message,
    /invalid v0\.3 agent card: protocolVersion: must be 0\.3 or 0\.3\.x/,
  );
  const noUrl = { ...v03Card(), url: undefined };
  assert.match(issueOf(() => parseAgentCard(noUrl)).message, /url: required string is missing/);
});

// ---- endpoint choice ------------------------------------------------------------------------------------

const withInterfaces = (interfaces: AgentCardV1['supportedInterfaces']): AgentCardV1 => ({
  ...parseAgentCard(v1Card()).card,
  supportedInterfaces: interfaces,
});
const i = (protocolBinding: string, protocolVersion: string) => ({
  url: `https://x.example/${protocolBinding.toLowerCase()}-${protocolVersion}`,
  protocolBinding,
  protocolVersion,
});
const CARD_URL = 'https://x.example/.well-known/agent-card.json';

test('endpoint choice: JSON-RPC 1.0, then HTTP+JSON 1.0, then JSON-RPC 0.3, whatever the card order', () => {
  const pick = (...ifs: ReturnType<typeof i>[]) => {
    const e = chooseEndpoint(withInterfaces(ifs), CARD_URL);
    return `${e.protocolBinding} ${e.protocolVersion}`;
  };
  assert.is(
    pick(i('GRPC', '1.0'), i('HTTP+JSON', '1.0'), i('JSONRPC', '1.0'), i('JSONRPC', '0.3')),
    'JSONRPC 1.0',
  );
  assert.is(pick(i('JSONRPC', '0.3'), i('HTTP+JSON', '1.0')), 'HTTP+JSON 1.0');
  assert.is(pick(i('GRPC', '1.0'), i('JSONRPC', '0.3.0')), 'JSONRPC 0.3');
  assert.is(pick(i('HTTP+JSON', '0.3'), i('JSONRPC', '0.3')), 'JSONRPC 0.3');
  assert.is(pick(i('JSONRPC', '1.0.1')), 'JSONRPC 1.0');
  const e = chooseEndpoint(withInterfaces([i('JSONRPC', '1.0')]), CARD_URL);
  assert.equal(e, {
    kind: 'remote',
    cardUrl: CARD_URL,
    url: 'https://x.example/jsonrpc-1.0',
    protocolBinding: 'JSONRPC',
    protocolVersion: '1.0',
    streaming: true,
  });
});

test('a card offering no interface the hub speaks is refused, naming what it offers', () => {
  const e = issueOf(() => chooseEndpoint(withInterfaces([i('GRPC', '1.0'), i('JSONRPC', '1.1')]), CARD_URL));
  assert.is(e.reason, 'CARD_NO_USABLE_INTERFACE');
  assert.match(e.message, /it offers: GRPC 1\.0, JSONRPC 1\.1/);
  assert.is(protocolLine('0.2.5'), null);
  assert.is(protocolLine('1.0'), '1.0');
  assert.is(protocolLine('0.3.0'), '0.3');
});

// ---- URLs, caching headers, slugs -----------------------------------------------------------------------

test('card URLs: a base gets the well-known path, a .json URL is used as is', () => {
  assert.is(cardUrlOf('https://a.example'), 'https://a.example/.well-known/agent-card.json');
  assert.is(cardUrlOf('https://a.example/'), 'https://a.example/.well-known/agent-card.json');
  assert.is(
    cardUrlOf('https://a.example/agents/x/'),
    'https://a.example/agents/x/.well-known/agent-card.json',
  );
  assert.is(cardUrlOf('https://a.example/card.json?v=1'), 'https://a.example/card.json?v=1');
  assert.is(issueOf(() => cardUrlOf('not a url')).reason, 'URL_NOT_ALLOWED');
});

test('Cache-Control max-age; no-cache and no-store are 0; absent is the default', () => {
  assert.is(maxAgeOf('public, max-age=120'), 120);
  assert.is(maxAgeOf('max-age="60", must-revalidate'), 60);
  assert.is(maxAgeOf('no-cache'), 0);
  assert.is(maxAgeOf('private, no-store'), 0);
  assert.is(maxAgeOf(null, 999), 999);
  assert.is(maxAgeOf('public', 999), 999);
});

test('agent id slugs', () => {
  assert.is(slugOf('Currency Agent'), 'currency-agent');
  assert.is(slugOf('  Échos & Co. (v2)!  '), 'echos-co-v2');
  assert.is(slugOf('!!!'), 'agent');
  assert.ok(slugOf('x'.repeat(100)).length <= 56);
});

// ---- fetching (fake transport and resolver) -------------------------------------------------------------

/** A resolver: `*.internal` are private, everything else public. */
const lookup: Lookup = async (host) =>
  host.endsWith('.internal')
    ? [{ address: '10.0.0.7', family: 4 }]
    : [{ address: '93.184.216.34', family: 4 }];

interface Sent {
  url: string;
  headers: Headers;
}
const transport = (answer: (url: URL, headers: Headers) => Response) => {
  const sent: Sent[] = [];
  const fetch = async (url: URL, init: RequestInit) => {
    const headers = new Headers(init.headers);
    sent.push({ url: url.href, headers });
    return answer(url, headers);
  };
  return { sent, fetch };
};
const json = (body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status: 200,
    headers: { 'content-type': 'application/json', ...headers },
  });
const now = () => new Date('2026-11-25T10:00:00.000Z');

test('fetch: GET the well-known card, validators from the response, endpoint chosen', async () => {
  const t = transport(() =>
    json(v1Card(), {
      etag: '"abc"',
      'cache-control': 'max-age=300',
      'last-modified': 'Tue, 24 Nov 2026 10:00:00 GMT',
    }),
  );
  const r = await fetchAgentCard('https://fx.example', { allowPrivate: false, lookup, fetch: t.fetch, now });
  assert.is(r.status, 'fresh');
  if (r.status !== 'fresh') return;
  assert.is(t.sent[0]?.url, 'https://fx.example/.well-known/agent-card.json');
  assert.is(t.sent[0]?.headers.get('a2a-version'), '1.0');
  assert.is(t.sent[0]?.headers.get('if-none-match'), null);
  assert.equal(r.validators, {
    etag: '"abc"',
    lastModified: 'Tue, 24 Nov 2026 10:00:00 GMT',
    maxAgeSeconds: 300,
    fetchedAt: '2026-11-25T10:00:00.000Z',
  });
  assert.is(r.endpoint.url, 'https://fx.example/a2a/jsonrpc');
  assert.equal(
    r.skills.map((s) => s.id),
    ['convert'],
  );
  assert.is(r.sourceVersion, '1.0');
});

test('fetch: conditional with the last validators; 304 is not-modified and keeps the etag', async () => {
  const t = transport((_u, h) =>
    h.get('if-none-match') === '"abc"'
      ? new Response(null, { status: 304, headers: { 'cache-control': 'max-age=60' } })
      : json(v1Card()),
  );
  const r = await fetchAgentCard('https://fx.example/', {
    allowPrivate: false,
    lookup,
    fetch: t.fetch,
    etag: '"abc"',
    lastModified: 'Tue, 24 Nov 2026 10:00:00 GMT',
    now,
  });
  assert.equal(r, {
    status: 'not-modified',
    cardUrl: 'https://fx.example/.well-known/agent-card.json',
    validators: {
      etag: '"abc"',
      lastModified: 'Tue, 24 Nov 2026 10:00:00 GMT',
      maxAgeSeconds: 60,
      fetchedAt: '2026-11-25T10:00:00.000Z',
    },
  });
  assert.is(t.sent[0]?.headers.get('if-modified-since'), 'Tue, 24 Nov 2026 10:00:00 GMT');
});

test('fetch: a v0.3 card is normalised and its JSON-RPC interface chosen', async () => {
  const t = transport(() => json(v03Card()));
  const r = await fetchAgentCard('https://weather.example', { allowPrivate: false, lookup, fetch: t.fetch });
  assert.is(r.status, 'fresh');
  if (r.status !== 'fresh') return;
  assert.is(r.sourceVersion, '0.3');
  assert.equal(r.endpoint, {
    kind: 'remote',
    cardUrl: 'https://weather.example/.well-known/agent-card.json',
    url: 'https://weather.example/a2a/jsonrpc',
    protocolBinding: 'JSONRPC',
    protocolVersion: '0.3',
    streaming: false,
  });
  assert.is(r.validators.maxAgeSeconds, 3600, 'no Cache-Control: the default');
});

const fails = async (p: Promise<unknown>, reason: string, message?: RegExp) => {
  try {
    await p;
  } catch (error) {
    assert.instance(error, AgentCardError);
    assert.is((error as AgentCardError).reason, reason, (error as Error).message);
    if (message) assert.match((error as Error).message, message);
    return;
  }
  assert.unreachable(`expected ${reason}`);
};

test('fetch: SSRF — a private card URL is refused before any request; allowPrivate lets it through', async () => {
  const t = transport(() => json(v1Card()));
  await fails(
    fetchAgentCard('http://127.0.0.1:8080', { allowPrivate: false, lookup, fetch: t.fetch }),
    'URL_NOT_ALLOWED',
    /loopback address: only public addresses may be called/,
  );
  await fails(
    fetchAgentCard('http://agents.internal', { allowPrivate: false, lookup, fetch: t.fetch }),
    'URL_NOT_ALLOWED',
    /private/,
  );
  assert.is(t.sent.length, 0);
  const ok = transport(() => {
    const card = v1Card();
    for (const s of card.supportedInterfaces)
      s.url = s.url.replace('https://fx.example', 'http://127.0.0.1:8080');
    return json(card);
  });
  const r = await fetchAgentCard('http://127.0.0.1:8080', { allowPrivate: true, lookup, fetch: ok.fetch });
  assert.is(r.status, 'fresh');
});

test('fetch: SSRF — every interface URL in the card is checked, not only the chosen one', async () => {
  const card = v1Card();
  card.supportedInterfaces[0]!.url = 'https://grpc.internal/a2a'; // the GRPC one, never chosen
  const t = transport(() => json(card));
  await fails(
    fetchAgentCard('https://fx.example', { allowPrivate: false, lookup, fetch: t.fetch }),
    'URL_NOT_ALLOWED',
    /the interface GRPC https:\/\/grpc\.internal\/a2a of the agent card .* refused: .*private address/,
  );
});

test('fetch: SSRF — a redirect to a private address is refused', async () => {
  const t = transport((u) =>
    u.hostname === 'fx.example'
      ? new Response(null, { status: 302, headers: { location: 'http://169.254.169.254/latest/meta-data' } })
      : json(v1Card()),
  );
  await fails(
    fetchAgentCard('https://fx.example', { allowPrivate: false, lookup, fetch: t.fetch }),
    'URL_NOT_ALLOWED',
    /link-local/,
  );
  assert.is(t.sent.length, 1);
});

test('fetch: HTTP errors, non-JSON, too large, unconditional 304 and timeouts are readable errors', async () => {
  const opts = (answer: (u: URL, h: Headers) => Response) => ({
    allowPrivate: false,
    lookup,
    fetch: transport(answer).fetch,
  });
  await fails(
    fetchAgentCard(
      'https://fx.example',
      opts(() => new Response('nope', { status: 404 })),
    ),
    'CARD_HTTP_ERROR',
    /answered HTTP 404/,
  );
  await fails(
    fetchAgentCard(
      'https://fx.example',
      opts(() => new Response('<html>', { status: 200 })),
    ),
    'CARD_NOT_JSON',
  );
  await fails(
    fetchAgentCard('https://fx.example', {
      ...opts(() => new Response('x'.repeat(2000), { status: 200 })),
      maxBytes: 1000,
    }),
    'CARD_TOO_LARGE',
  );
  await fails(
    fetchAgentCard('https://fx.example', {
      ...opts(
        () => new Response('{}', { status: 200, headers: { 'content-length': String(5 * 1024 * 1024) } }),
      ),
    }),
    'CARD_TOO_LARGE',
    /at most 1048576/,
  );
  await fails(
    fetchAgentCard(
      'https://fx.example',
      opts(() => new Response(null, { status: 304 })),
    ),
    'CARD_HTTP_ERROR',
    /HTTP 304/,
  );
  const hang = async (_u: URL, init: RequestInit) =>
    new Promise<Response>((_resolve, reject) => {
      // A socket would keep the process alive; AbortSignal.timeout's timer does not.
      const keepAlive = setTimeout(() => {}, 10_000);
      init.signal?.addEventListener('abort', () => {
        clearTimeout(keepAlive);
        reject(init.signal?.reason);
      });
    });
  await fails(
    fetchAgentCard('https://fx.example', { allowPrivate: false, lookup, fetch: hang, timeoutMs: 50 }),
    'CARD_UNREACHABLE',
    /no answer within 0\.05 s/,
  );
  await fails(
    fetchAgentCard('https://fx.example', {
      allowPrivate: false,
      lookup,
      fetch: () => Promise.reject(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })),
    }),
    'CARD_UNREACHABLE',
    /ECONNREFUSED/,
  );
});

test('fetch: an invalid card fetched is CARD_INVALID with the issues', async () => {
  const { skills: _s, ...noSkills } = v1Card();
  const t = transport(() => json(noSkills));
  await fails(
    fetchAgentCard('https://fx.example', { allowPrivate: false, lookup, fetch: t.fetch }),
    'CARD_INVALID',
    /skills: required array is missing/,
  );
});

test.run();
