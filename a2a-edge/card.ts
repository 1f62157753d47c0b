import { createHash } from 'node:crypto';
import type { Context } from 'hono';
import type { AgentDirectory } from '../agents/directory.ts';

export interface HubCardOptions {
  baseUrl: string;
  agents: AgentDirectory;
  version: string;
  streaming: boolean;
  pushNotifications: boolean;
}

/** Each scheme in both shapes: the v1.0 oneof member and the v0.3 `type`-tagged form (readers ignore the other). */
export const securitySchemes = {
  apiKey: {
    type: 'apiKey',
    in: 'header',
    name: 'X-API-Key',
    description: 'AgentCore API key',
    apiKeySecurityScheme: { location: 'header', name: 'X-API-Key', description: 'AgentCore API key' },
  },
  bearer: {
    type: 'http',
    scheme: 'bearer',
    description: 'AgentCore API key as a bearer token',
    httpAuthSecurityScheme: { scheme: 'Bearer', description: 'AgentCore API key as a bearer token' },
  },
};

/** Either scheme will do (v1.0 securityRequirements). */
export const securityRequirements = [
  { schemes: { apiKey: { list: [] } } },
  { schemes: { bearer: { list: [] } } },
];

/**
 * The hub's card (A2A v1.0), with the v0.3 top-level fields (`url`, `protocolVersion`,
 * `preferredTransport`, `additionalInterfaces`) alongside: v1.0 readers ignore them, v0.3 peers need them.
 * Skills are those of the agents running here, each id prefixed with its agent's id.
 */
export const hubCard = (o: HubCardOptions, extended = false) => {
  const jsonrpc = `${o.baseUrl}/a2a/jsonrpc`;
  const rest = `${o.baseUrl}/a2a/rest`;
  const skills = o.agents.list().flatMap((agent) =>
    agent.skills.map((s) => ({
      ...s,
      id: `${agent.id}.${s.id}`,
      tags: [...s.tags, `agent:${agent.id}`],
    })),
  );
  return {
    name: 'AgentCore hub',
    description: `Routes A2A tasks to ${o.agents.list().length} agents and keeps a replayable record of everything.${
      extended ? ' Extended card: includes operator details.' : ''
    }`,
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
    securitySchemes,
    securityRequirements,
    // v0.3 compatibility
    url: jsonrpc,
    protocolVersion: '0.3.0',
    preferredTransport: 'JSONRPC',
    // Only JSON-RPC speaks v0.3 here: the REST binding is v1.0-only, so it is not offered to v0.3 peers.
    additionalInterfaces: [{ url: jsonrpc, transport: 'JSONRPC' }],
    supportsAuthenticatedExtendedCard: true,
    security: [{ apiKey: [] }, { bearer: [] }],
    ...(extended ? { metadata: { agents: o.agents.list().map((a) => ({ id: a.id, name: a.name })) } } : {}),
  };
};

/** Serves a JSON document with ETag/Last-Modified validators, answering conditional GETs with 304. */
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
