/**
 * The systems under test, each started as child processes on loopback (a free port), with what the
 * orchestrator needs to measure them: their node pids, whether PostgreSQL/NATS do part of their work, how
 * many events they have appended, and how to stop and clean them up. Every child is registered in
 * `children` so the orchestrator can kill whatever is left on any exit path.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import type { Target } from './load.ts';

export const SYSTEMS = [
  'reference',
  'agentcore-embedded',
  'agentcore-distributed',
  'agentcore-split',
  'durable-floor',
  'floor',
] as const;
export type SystemName = (typeof SYSTEMS)[number];

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

export interface System {
  name: SystemName;
  target: Target;
  /** The node processes of the system (not the load generator). */
  pids: number[];
  /** PostgreSQL and nats-server do part of this system's work: their CPU counts. */
  usesServices: boolean;
  /** Events in the log now; null when it cannot be read while the system runs (embedded). */
  eventCount(): Promise<number | null>;
  /** Stops the processes and removes the system's data; returns the final event count if it has one. */
  stop(): Promise<number | null>;
}

/** Every child process started, so that any exit path can kill what is still running. */
export const children = new Set<ChildProcess>();
/** Children being stopped on purpose: any other exit is reported. */
const stopping = new WeakSet<ChildProcess>();

interface Child {
  proc: ChildProcess;
  /** Resolves with the first stdout line matching `pattern` (its first group). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  stderrTail(): string;
}

/** Starts `node --import tsx <args>` with a raised open-files limit (10k streams need 10k sockets). */
const startNode = (args: string[], env: Record<string, string>): Child => {
  const command = `ulimit -n 65536 2>/dev/null || ulimit -n $(ulimit -Hn); exec node --import tsx ${args.join(' ')}`;
  const proc = spawn('bash', ['-c', command], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  proc.on('exit', () => children.delete(proc));
  const seen: string[] = [];
  const waiters: Array<{ pattern: RegExp; resolve: (s: string) => void }> = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    seen.push(line);
    for (const w of waiters) {
      const m = line.match(w.pattern);
      if (m) w.resolve(m[1] ?? line);
    }
  });
  let stderr = '';
  proc.stderr!.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
    if (process.env.BENCH_VERBOSE) process.stderr.write(`[${args.join(' ')}] ${d}`);
  });
  proc.on('exit', (code, signal) => {
    if (!stopping.has(proc))
      process.stderr.write(`${args.join(' ')} exited on its own (${code ?? signal})\n${stderr}\n`);
  });
  return {
    proc,
    stderrTail: () => stderr,
    waitFor: (pattern, timeoutMs = 60_000) =>
      new Promise((ok, fail) => {
        for (const line of seen) {
          const m = line.match(pattern);
          if (m) return ok(m[1] ?? line);
        }
        const timer = setTimeout(
          () => fail(new Error(`no ${pattern} from ${args.join(' ')} in ${timeoutMs} ms\n${stderr}`)),
          timeoutMs,
        );
        proc.once('exit', (code, signal) =>
          fail(new Error(`${args.join(' ')} exited (${code ?? signal}) before ${pattern}\n${stderr}`)),
        );
        waiters.push({
          pattern,
          resolve: (s) => {
            clearTimeout(timer);
            ok(s);
          },
        });
      }),
  };
};

/** SIGTERM (the hub drains in-flight work), SIGKILL if it is still there after `graceMs`. */
export const stopChild = (proc: ChildProcess, graceMs = 15_000) =>
  new Promise<void>((done) => {
    stopping.add(proc);
    if (proc.exitCode !== null || proc.signalCode !== null) return done();
    const kill = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    proc.once('exit', () => {
      clearTimeout(kill);
      done();
    });
    proc.kill('SIGTERM');
  });

/**
 * Every role, spelled out: the same as `all` (app/config.ts parseRoles), but a command line that a
 * broad `pkill -f 'agentcore.ts all'` from someone else's session on this shared machine does not hit
 * (seen: one-process hubs SIGTERMed mid-run while the split ones survived).
 */
const ALL_ROLES = 'edge sagas workers projections relay'.split(' ');
const LISTENING = /listening on (http:\/\/\S+)/;
const DEV_KEY = /development API key .*: (ac_dev_\S+)/;
const rpc = (base: string) => `${base}/a2a/jsonrpc`;

const plainServer = async (name: 'reference' | 'floor', script: string): Promise<System> => {
  const child = startNode([script], { PORT: '0' });
  const url = await child.waitFor(LISTENING);
  return {
    name,
    target: { url: rpc(url), headers: { 'a2a-version': '1.0' } },
    pids: [child.proc.pid!],
    usesServices: false,
    eventCount: async () => null,
    stop: async () => {
      await stopChild(child.proc);
      return null;
    },
  };
};

/** The least a durable SendMessage does (durable-floor-server.ts), on the same PostgreSQL and NATS. */
const durableFloor = async (): Promise<System> => {
  const suffix = randomBytes(4).toString('hex');
  const schema = `bench_floor_${suffix}`;
  const child = startNode(['bench/a2a/durable-floor-server.ts'], {
    PORT: '0',
    DATABASE_URL,
    NATS_URL,
    FLOOR_SCHEMA: schema,
    FLOOR_NAMESPACE: `bf${suffix}`,
  });
  const url = await child.waitFor(LISTENING);
  const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
  const count = async () =>
    Number((await sql.unsafe(`SELECT count(*)::int AS n FROM ${schema}.events`))[0]!.n);
  return {
    name: 'durable-floor',
    target: { url: rpc(url), headers: { 'a2a-version': '1.0' } },
    pids: [child.proc.pid!],
    usesServices: true,
    eventCount: count,
    stop: async () => {
      const n = await count().catch(() => null);
      await stopChild(child.proc); // drops its schema and stream
      await sql.end();
      return n;
    },
  };
};

const embedded = async (): Promise<System> => {
  const dir = mkdtempSync(join(os.tmpdir(), 'agentcore-bench-'));
  const child = startNode(['bin/agentcore.ts', ...ALL_ROLES], { AGENTCORE_DATA_DIR: dir, PORT: '0' });
  const url = await child.waitFor(LISTENING);
  const key = await child.waitFor(DEV_KEY);
  return {
    name: 'agentcore-embedded',
    target: { url: rpc(url), headers: { 'a2a-version': '1.0', 'x-api-key': key }, agent: 'echo' },
    pids: [child.proc.pid!],
    usesServices: false,
    eventCount: async () => null,
    // The log is only readable once the hub has let go of its PGlite directory.
    stop: async () => {
      await stopChild(child.proc);
      try {
        const { PGlite } = await import('@electric-sql/pglite');
        const { vector } = await import('@electric-sql/pglite-pgvector');
        const db = await PGlite.create(join(dir, 'pglite'), { extensions: { vector } });
        const [row] = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM events')).rows;
        await db.close();
        return row?.n ?? null;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
};

/**
 * The distributed runtime in a schema and JetStream namespace of its own. Its first edge prints the dev
 * key like the embedded hub; should it not, the default tenant and a key are bootstrapped into its log
 * the way the hub does it itself.
 */
const distributed = async (split: boolean): Promise<System> => {
  const suffix = randomBytes(4).toString('hex');
  const schema = `bench_${suffix}`;
  const namespace = `b${suffix}`;
  const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
  const env = {
    DATABASE_URL,
    NATS_URL,
    AGENTCORE_PG_SCHEMA: schema,
    AGENTCORE_NAMESPACE: namespace,
    PORT: '0',
  };
  const procs: Child[] = [];
  const cleanup = async () => {
    for (const c of procs) await stopChild(c.proc);
    await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await sql.end();
    const { createJetStreamBus } = await import('../../infra/bus/jetstream.ts');
    const bus = await createJetStreamBus({ servers: NATS_URL, namespace });
    await bus.destroy(); // its streams, and with them their consumers and messages
  };
  try {
    procs.push(startNode(['bin/agentcore.ts', ...(split ? ['edge'] : ALL_ROLES)], env));
    if (split) procs.push(startNode(['bin/agentcore.ts', 'workers', 'sagas', 'projections', 'relay'], env));
    const url = await procs[0]!.waitFor(LISTENING);
    const key = await procs[0]!.waitFor(DEV_KEY, 10_000).catch(async () => {
      const { createPostgresEventStore } = await import('../../infra/event-store/postgres.ts');
      const { bootstrapDefaultTenant } = await import('../../commands/bootstrap.ts');
      return bootstrapDefaultTenant(await createPostgresEventStore({ sql, schema, migrate: false }));
    });
    const count = async () =>
      Number((await sql.unsafe(`SELECT count(*)::int AS n FROM ${schema}.events`))[0]!.n);
    return {
      name: split ? 'agentcore-split' : 'agentcore-distributed',
      target: { url: rpc(url), headers: { 'a2a-version': '1.0', 'x-api-key': key! }, agent: 'echo' },
      pids: procs.map((c) => c.proc.pid!),
      usesServices: true,
      eventCount: count,
      stop: async () => {
        const n = await count().catch(() => null);
        await cleanup();
        return n;
      },
    };
  } catch (error) {
    await cleanup().catch(() => {});
    throw error;
  }
};

export const startSystem = (name: SystemName): Promise<System> => {
  switch (name) {
    case 'reference':
      return plainServer(name, 'bench/a2a/reference-server.ts');
    case 'floor':
      return plainServer(name, 'bench/a2a/floor-server.ts');
    case 'durable-floor':
      return durableFloor();
    case 'agentcore-embedded':
      return embedded();
    case 'agentcore-distributed':
      return distributed(false);
    case 'agentcore-split':
      return distributed(true);
  }
};
