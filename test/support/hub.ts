/**
 * A whole hub in this test process, on either runtime: `embedded` (PGlite in a temp dir + in-process bus)
 * or `distributed` (the local PostgreSQL + JetStream, in a schema and namespace of its own). Returns its
 * URL and the default tenant's API key. The same suites run against both.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import postgres from 'postgres';
import { createRuntime, type Runtime, type RuntimeOverrides } from '../../app/compose.ts';
import { loadConfig, type Role } from '../../app/config.ts';
import { hashApiKey } from '../../commands/bootstrap.ts';
import { handle } from '../../commands/handle.ts';
import { tenantDecider } from '../../commands/tenant.ts';
import { tenantStream } from '../../events/tenant.ts';
import { catchUpUntil } from '../../projections/runner.ts';
import { apiKeyReadable, tenantsProjection } from '../../projections/tenants.ts';
import { DATABASE_URL, dropNamespace, NATS_URL, requireService, uniqueName } from './services.ts';

export type RuntimeKind = 'embedded' | 'distributed';

export interface TestHub {
  url: string;
  apiKey: string;
  runtime: Runtime;
  /** Registers another tenant with a key of its own (for isolation tests). */
  addTenant(tenant: string, actsFor?: string[]): Promise<string>;
  /**
   * Stops the runtime and starts a new one on the same data (data dir, or schema and namespace), as a
   * process restart would; `runtime` and `url` (a new port) are replaced.
   */
  restart(): Promise<void>;
  /**
   * Another process of the same hub (distributed only): a runtime of its own on the same schema and
   * namespace, with `roles` (default: an edge), as a second `agentcore edge` would be.
   */
  startPeer(roles?: Role[]): Promise<{ url: string; runtime: Runtime; stop(): Promise<void> }>;
  stop(): Promise<void>;
}

/** The environment that gives a hub these LLM agents (agents/llm.ts) on an OpenAI-compatible server. */
export const llmAgentsEnv = (baseURL: string, agents: unknown[]): Record<string, string> => ({
  AGENTCORE_LLM_URL: baseURL,
  AGENTCORE_LLM_MODEL: 'stub-chat',
  AGENTCORE_LLM_AGENTS: JSON.stringify(agents),
});

/**
 * The runtimes a suite runs on: embedded always, distributed when PostgreSQL and NATS answer (a loud skip
 * otherwise; under CI=true an unreachable service fails instead); TEST_RUNTIME=embedded|distributed picks one.
 */
export const runtimesFor = async (what: string): Promise<RuntimeKind[]> => {
  const kinds: RuntimeKind[] = ['embedded'];
  if ((await requireService('pgvector')) && (await requireService('nats'))) kinds.push('distributed');
  else console.warn(`\n!!! SKIPPED: ${what} on the distributed runtime (postgres/nats unreachable) !!!\n`);
  return process.env.TEST_RUNTIME ? kinds.filter((k) => k === process.env.TEST_RUNTIME) : kinds;
};

export const startHub = async (
  kind: RuntimeKind,
  options: { env?: Record<string, string>; overrides?: RuntimeOverrides; roles?: Role[] } = {},
): Promise<TestHub> => {
  const cleanups: Array<() => Promise<void>> = [];
  let env: Record<string, string | undefined>;
  if (kind === 'embedded') {
    const dir = mkdtempSync(join(os.tmpdir(), 'agentcore-test-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    env = { AGENTCORE_DATA_DIR: dir };
  } else {
    const schema = uniqueName('hub');
    const namespace = `h${Math.random().toString(36).slice(2, 10)}`;
    env = { DATABASE_URL, NATS_URL, AGENTCORE_PG_SCHEMA: schema, AGENTCORE_NAMESPACE: namespace };
    cleanups.push(async () => {
      const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
      await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await sql.end();
      await dropNamespace(namespace);
    });
  }
  const config = loadConfig({ ...env, PORT: '0', AGENTCORE_ALLOW_PRIVATE_URLS: 'true', ...options.env });
  const create = () =>
    createRuntime(config, {
      log: pino({ level: process.env.TEST_LOG_LEVEL ?? 'warn' }),
      ...options.overrides,
    });
  const roles = options.roles ?? ['edge', 'sagas', 'workers', 'projections', 'relay'];
  let runtime = await create();
  const started = await runtime.start(roles);
  const addTenant = async (tenant: string, actsFor: string[] = []) => {
    const key = `ac_test_${tenant}_${Math.random().toString(36).slice(2)}`;
    const ctx = { tenant, principal: 'test:setup' };
    await handle(
      runtime.store,
      tenantStream(tenant),
      { type: 'RegisterTenant', tenantId: tenant, name: tenant },
      tenantDecider,
      ctx,
    ).catch(() => {});
    await handle(
      runtime.store,
      tenantStream(tenant),
      { type: 'IssueApiKey', keyId: key.slice(-8), keyHash: hashApiKey(key), label: 'test', actsFor },
      tenantDecider,
      ctx,
    );
    // The hub's own projection runner may hold the batch: wait until the key is really readable.
    await catchUpUntil(
      runtime.db,
      runtime.store,
      tenantsProjection,
      () => apiKeyReadable(runtime.db, key),
      `the key for tenant ${tenant}`,
    );
    return key;
  };
  // Only the first start of a database prints a dev key; otherwise the hub gets a test tenant key.
  const apiKey = started.devApiKey ?? (await addTenant('default'));
  const hub: TestHub = {
    url: started.url!,
    apiKey,
    runtime,
    addTenant,
    async restart() {
      await runtime.stop();
      runtime = await create();
      hub.runtime = runtime;
      hub.url = (await runtime.start(roles)).url!;
    },
    async startPeer(peerRoles: Role[] = ['edge']) {
      if (kind !== 'distributed') throw new Error('startPeer: only a distributed hub has other processes');
      const peer = await create();
      const peerUrl = (await peer.start(peerRoles)).url ?? '';
      let stopped: Promise<void> | undefined;
      const stop = () => (stopped ??= peer.stop());
      cleanups.unshift(stop);
      return { url: peerUrl, runtime: peer, stop };
    },
    async stop() {
      await runtime.stop();
      for (const c of cleanups) await c();
    },
  };
  return hub;
};
