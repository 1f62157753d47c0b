/**
 * Agent cards against strict zod schemas derived from the spec's a2a.proto (lf.a2a.v1 AgentCard and what
 * it holds; `.strict()`: a field the proto does not define fails): the hub's card and extended card, and a
 * workflow's card, when asked with A2A-Version 1.0. Without the header the hub's card keeps the v0.3 fields
 * v0.3 peers read, and says that it varies.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { describeZodIssues } from '../../events/issues.ts';
import { defineWorkflow } from '../../workflows/service.ts';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { orderWorkflow } from '../support/workflow-agents.ts';
import { type EdgeClient, edgeClient, type Json, keyVisible } from './edge-client.ts';

const text = z.string().min(1);
const struct = z.record(z.string(), z.unknown());
const scopes = z.record(z.string(), z.string());
const StringList = z.object({ list: z.array(z.string()) }).strict();
const SecurityRequirement = z.object({ schemes: z.record(z.string(), StringList) }).strict();
const oneOf = <T extends Record<string, z.ZodType>>(members: T) =>
  z
    .object(
      Object.fromEntries(Object.entries(members).map(([k, v]) => [k, v.optional()])) as {
        [K in keyof T]: z.ZodOptional<T[K]>;
      },
    )
    .strict()
    .refine(
      (o) => Object.values(o).filter((v) => v !== undefined).length === 1,
      'exactly one member of the oneof',
    );
const OAuthFlows = oneOf({
  authorizationCode: z
    .object({
      authorizationUrl: text,
      tokenUrl: text,
      refreshUrl: z.string().optional(),
      scopes,
      pkceRequired: z.boolean().optional(),
    })
    .strict(),
  clientCredentials: z.object({ tokenUrl: text, refreshUrl: z.string().optional(), scopes }).strict(),
  implicit: z
    .object({
      authorizationUrl: z.string().optional(),
      refreshUrl: z.string().optional(),
      scopes: scopes.optional(),
    })
    .strict(),
  password: z
    .object({ tokenUrl: z.string().optional(), refreshUrl: z.string().optional(), scopes: scopes.optional() })
    .strict(),
  deviceCode: z
    .object({ deviceAuthorizationUrl: text, tokenUrl: text, refreshUrl: z.string().optional(), scopes })
    .strict(),
});
const description = z.string().optional();
const SecurityScheme = oneOf({
  apiKeySecurityScheme: z
    .object({ description, location: z.enum(['query', 'header', 'cookie']), name: text })
    .strict(),
  httpAuthSecurityScheme: z
    .object({ description, scheme: text, bearerFormat: z.string().optional() })
    .strict(),
  oauth2SecurityScheme: z
    .object({ description, flows: OAuthFlows, oauth2MetadataUrl: z.string().optional() })
    .strict(),
  openIdConnectSecurityScheme: z.object({ description, openIdConnectUrl: text }).strict(),
  mtlsSecurityScheme: z.object({ description }).strict(),
});
const AgentInterface = z
  .object({
    url: z.string().url(),
    protocolBinding: text,
    tenant: z.string().optional(),
    protocolVersion: text,
  })
  .strict();
const AgentSkill = z
  .object({
    id: text,
    name: text,
    description: text,
    tags: z.array(z.string()).min(1),
    examples: z.array(z.string()).optional(),
    inputModes: z.array(z.string()).optional(),
    outputModes: z.array(z.string()).optional(),
    securityRequirements: z.array(SecurityRequirement).optional(),
  })
  .strict();
/** lf.a2a.v1.AgentCard (A2A.md §1.4): REQUIRED fields present, required arrays non-empty, nothing else. */
export const StrictAgentCard = z
  .object({
    name: text,
    description: text,
    supportedInterfaces: z.array(AgentInterface).min(1),
    provider: z.object({ url: text, organization: text }).strict().optional(),
    version: text,
    documentationUrl: z.string().optional(),
    capabilities: z
      .object({
        streaming: z.boolean().optional(),
        pushNotifications: z.boolean().optional(),
        extensions: z
          .array(
            z
              .object({ uri: text, description, required: z.boolean().optional(), params: struct.optional() })
              .strict(),
          )
          .optional(),
        extendedAgentCard: z.boolean().optional(),
        skillQuery: z.boolean().optional(),
      })
      .strict(),
    securitySchemes: z.record(z.string(), SecurityScheme).optional(),
    securityRequirements: z.array(SecurityRequirement).optional(),
    defaultInputModes: z.array(z.string()).min(1),
    defaultOutputModes: z.array(z.string()).min(1),
    skills: z.array(AgentSkill).min(1),
    signatures: z
      .array(z.object({ protected: text, signature: text, header: struct.optional() }).strict())
      .optional(),
    iconUrl: z.string().optional(),
  })
  .strict();

const strict = (card: unknown, what: string) => {
  const parsed = StrictAgentCard.safeParse(card);
  assert.ok(parsed.success, `${what}: ${parsed.success ? '' : describeZodIssues(parsed.error.issues)}`);
};

const V03_FIELDS = [
  'url',
  'preferredTransport',
  'additionalInterfaces',
  'protocolVersion',
  'supportsAuthenticatedExtendedCard',
  'security',
];

for (const kind of await runtimesFor('conformance of the agent cards')) {
  const s = suite(`conformance cards (${kind})`);
  let hub: TestHub;
  let client: EdgeClient;
  s.before(async () => {
    hub = await startHub(kind);
    await keyVisible(hub, hub.apiKey);
    client = edgeClient(hub);
  });
  s.after(async () => hub?.stop());

  const cardAt = async (path: string, headers: Record<string, string> = {}) => {
    const r = await fetch(`${hub.url}${path}`, { headers: { 'x-api-key': hub.apiKey, ...headers } });
    assert.is(r.status, 200, path);
    return { card: (await r.json()) as Json, etag: r.headers.get('etag'), vary: r.headers.get('vary') ?? '' };
  };

  s(
    'with A2A-Version 1.0 (header or query) the card and the extended card are strict v1.0 AgentCards',
    async () => {
      const byHeader = await cardAt('/.well-known/agent-card.json', { 'A2A-Version': '1.0' });
      strict(byHeader.card, 'the card (header)');
      const byQuery = await cardAt('/.well-known/agent-card.json?A2A-Version=1.0');
      strict(byQuery.card, 'the card (query)');
      assert.equal(byQuery.card, byHeader.card);
      strict(await client.result('GetExtendedAgentCard', {}), 'the extended card (JSON-RPC)');
      const rest = await client.rest('GET', '/extendedAgentCard');
      strict(rest.body, 'the extended card (REST)');
      assert.match(
        rest.body.description,
        /Extended card: agents /,
        'the extended card still names the agents',
      );
    },
  );

  s(
    'without the header the card keeps what v0.3 peers read; it varies by A2A-Version, with its own ETag',
    async () => {
      const legacy = await cardAt('/.well-known/agent-card.json');
      const v1 = await cardAt('/.well-known/agent-card.json', { 'A2A-Version': '1.0' });
      for (const field of V03_FIELDS) {
        assert.ok(field in legacy.card, `v0.3 field ${field} kept without the header`);
        assert.not.ok(field in v1.card, `v0.3 field ${field} absent with A2A-Version 1.0`);
      }
      assert.is(legacy.card.url, `${hub.url}/a2a/jsonrpc`);
      assert.is(legacy.card.securitySchemes.apiKey.type, 'apiKey', 'v0.3-tagged schemes');
      assert.not.ok('metadata' in legacy.card);
      assert.match(legacy.vary, /A2A-Version/i);
      assert.match(v1.vary, /A2A-Version/i);
      assert.ok(legacy.etag && v1.etag && legacy.etag !== v1.etag, 'the two cards have different ETags');
      const conditional = await fetch(`${hub.url}/.well-known/agent-card.json`, {
        headers: { 'A2A-Version': '1.0', 'If-None-Match': legacy.etag! },
      });
      assert.is(conditional.status, 200, "the v0.3 card's ETag does not validate the v1.0 card");
      await conditional.arrayBuffer();
      // v0.3's own method still gets the v0.3-compatible extended card, without fields no spec defines.
      const old = await client.rpc(
        'agent/getAuthenticatedExtendedCard',
        {},
        { headers: { 'A2A-Version': '' } },
      );
      assert.is(old.body.result?.protocolVersion, '0.3.0', old.text.slice(0, 200));
      assert.not.ok('metadata' in old.body.result);
    },
  );

  s("a workflow's card is a strict v1.0 AgentCard with A2A-Version 1.0", async () => {
    await defineWorkflow(
      hub.runtime.store,
      { tenant: 'default', principal: 'test:cards' },
      orderWorkflow('cards-order'),
    );
    const { card } = await cardAt('/a2a/workflows/cards-order/agent-card.json', { 'A2A-Version': '1.0' });
    strict(card, "the workflow's card");
  });

  s.run();
}
