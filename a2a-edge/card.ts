/**
 * The hub's agent card, in the two shapes clients read: a strict A2A v1.0 AgentCard for those that ask with
 * `A2A-Version: 1.0`, and, for those that send no version (read as v0.3, A2A.md §1.1), the v1.0 card with
 * the v0.3 fields alongside. Both are served with validators (ETag, Last-Modified) and `Vary: A2A-Version`.
 */
import { createHash } from 'node:crypto';
import type { Context } from 'hono';
import type { AgentSkill } from '../agents/agent.ts';
import type { AgentDirectory } from '../agents/directory.ts';
import { majorMinor, requestedVersion } from './sse.ts';

/** Which card a request gets: the strict v1.0 one, or the one v0.3 peers can read too. */
export type CardDialect = '1.0' | '0.3';

/** `A2A-Version: 1.x` (header or query) asks for the strict card; anything else for the compatible one. */
export const cardDialect = (c: Context): CardDialect =>
  majorMinor(requestedVersion(c)).startsWith('1.') ? '1.0' : '0.3';

export interface HubCardOptions {
  baseUrl: string;
  agents: AgentDirectory;
  version: string;
  streaming: boolean;
  pushNotifications: boolean;
}

/** The v1.0 SecurityScheme oneof members (proto APIKeySecurityScheme, HTTPAuthSecurityScheme). */
const schemesV1 = {
  apiKey: {
    apiKeySecurityScheme: { location: 'header', name: 'X-API-Key', description: 'AgentCore API key' },
  },
  bearer: {
    httpAuthSecurityScheme: { scheme: 'Bearer', description: 'AgentCore API key as a bearer token' },
  },
};

/** Each scheme in both shapes: the v1.0 oneof member and the v0.3 `type`-tagged form (readers ignore the other). */
const schemesBoth = {
  apiKey: {
    type: 'apiKey',
    in: 'header',
    name: 'X-API-Key',
    ...schemesV1.apiKey,
    description: 'AgentCore API key',
  },
  bearer: {
    type: 'http',
    scheme: 'bearer',
    description: 'AgentCore API key as a bearer token',
    ...schemesV1.bearer,
  },
};

export const securitySchemes = (dialect: CardDialect) => (dialect === '1.0' ? schemesV1 : schemesBoth);

/** Either scheme will do (v1.0 securityRequirements). */
export const securityRequirements = [
  { schemes: { apiKey: { list: [] } } },
  { schemes: { bearer: { list: [] } } },
];

/** A skill with the AgentSkill fields only, whatever else its source carries. */
export const skillV1 = (s: AgentSkill) => ({
  id: s.id,
  name: s.name,
  description: s.description || s.name,
  tags: s.tags,
  ...(s.examples ? { examples: s.examples } : {}),
  ...(s.inputModes ? { inputModes: s.inputModes } : {}),
  ...(s.outputModes ? { outputModes: s.outputModes } : {}),
});

/**
 * The hub's card. `0.3` adds the v0.3 top-level fields (`url`, `protocolVersion`, `preferredTransport`,
 * `additionalInterfaces`, `supportsAuthenticatedExtendedCard`, `security`) and v0.3-tagged schemes: v1.0
 * readers ignore them, v0.3 peers need them. Skills are those of the agents running here, each id prefixed
 * with its agent's id. The extended card also names the agents, in its description (AgentCard has no
 * field for them).
 */
export const hubCard = (o: HubCardOptions, dialect: CardDialect, extended = false) => {
  const jsonrpc = `${o.baseUrl}/a2a/jsonrpc`;
  const rest = `${o.baseUrl}/a2a/rest`;
  const agents = o.agents.list();
  const skills = agents.flatMap((agent) =>
    agent.skills.map((s) =>
      skillV1({ ...s, id: `${agent.id}.${s.id}`, tags: [...s.tags, `agent:${agent.id}`] }),
    ),
  );
  const operator = extended
    ? ` Extended card: agents ${agents.map((a) => `${a.id} (${a.name})`).join(', ')}.`
    : '';
  const card = {
    name: 'AgentCore hub',
    description: `Routes A2A tasks to ${agents.length} agents and keeps a replayable record of everything.${operator}`,
    version: o.version,
    provider: { organization: 'AgentCore', url: o.baseUrl },
    supportedInterfaces: [
      { url: jsonrpc, protocolBinding: 'JSONRPC', protocolVersion: '1.0' },
      { url: rest, protocolBinding: 'HTTP+JSON', protocolVersion: '1.0' },
    ],
    capabilities: { streaming: o.streaming, pushNotifications: o.pushNotifications, extendedAgentCard: true },
    defaultInputModes: ['text/plain', 'application/json'],
    defaultOutputModes: ['text/plain', 'application/json'],
    skills,
    securitySchemes: securitySchemes(dialect),
    securityRequirements,
  };
  if (dialect === '1.0') return card;
  return {
    ...card,
    url: jsonrpc,
    protocolVersion: '0.3.0',
    preferredTransport: 'JSONRPC',
    // Only JSON-RPC speaks v0.3 here: the REST binding is v1.0-only, so it is not offered to v0.3 peers.
    additionalInterfaces: [{ url: jsonrpc, transport: 'JSONRPC' }],
    supportsAuthenticatedExtendedCard: true,
    security: [{ apiKey: [] }, { bearer: [] }],
  };
};

/**
 * Serves a JSON document with ETag/Last-Modified validators, answering conditional GETs with 304. A document
 * that depends on the A2A-Version header says so (`Vary`); its ETag differs with the body anyway.
 */
export const cacheableJson = (
  body: unknown,
  lastModified: Date,
  maxAgeSeconds = 300,
  scope: 'public' | 'private' = 'public',
) => {
  const json = JSON.stringify(body);
  const etag = `"${createHash('sha256').update(json).digest('base64url').slice(0, 27)}"`;
  const modified = new Date(Math.floor(lastModified.getTime() / 1000) * 1000);
  return (c: Context) => {
    const headers = {
      ETag: etag,
      'Last-Modified': modified.toUTCString(),
      'Cache-Control': `${scope}, max-age=${maxAgeSeconds}`,
      Vary: 'A2A-Version',
    };
    const ifNoneMatch = c.req.header('if-none-match');
    const ifModifiedSince = c.req.header('if-modified-since');
    const notModified = ifNoneMatch
      ? ifNoneMatch.split(',').some((t) => t.trim() === etag || t.trim() === '*')
      : ifModifiedSince !== undefined && Date.parse(ifModifiedSince) >= modified.getTime();
    if (notModified) return c.body(null, 304, headers);
    return c.body(json, 200, { ...headers, 'Content-Type': 'application/json' });
  };
};
