/**
 * `npm start` as a newcomer runs it: embedded defaults, no services. It prints where it listens and a dev
 * key on first start; killed with SIGKILL and restarted it keeps its data; SIGTERM stops it cleanly.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = new URL('../..', import.meta.url).pathname;
const dataDir = mkdtempSync(join(os.tmpdir(), 'agentcore-hub-'));

const startHub = () => {
  const env: Record<string, string | undefined> = {
    ...process.env,
    AGENTCORE_DATA_DIR: dataDir,
    PORT: '0',
    LOG_LEVEL: 'warn',
  };
  for (const k of ['DATABASE_URL', 'NATS_URL', 'REDIS_URL', 'EVENTSTORE_URL']) delete env[k];
  // What `npm start` runs (tsx bin/agentcore.ts all), without npm in between so signals reach the hub itself.
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/agentcore.ts', 'all'], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const listening = new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) {
        clearInterval(timer);
        resolve(m[1]!);
      }
    }, 20);
    void exited.then((code) => {
      clearInterval(timer);
      reject(new Error(`hub exited (${code}) before listening:\n${out}`));
    });
  });
  const signal = (sig: NodeJS.Signals) => child.kill(sig);
  return { listening, exited, signal, output: () => out };
};

test.after(() => rmSync(dataDir, { recursive: true, force: true }));

test('first start listens, is ready, and prints a dev key once; SIGKILL and restart keep the data', async () => {
  const first = startHub();
  const url = await first.listening;
  const ready = await fetch(`${url}/readyz`);
  assert.is(ready.status, 200, await ready.clone().text());
  assert.equal(((await ready.json()) as { status: string }).status, 'ready');
  await new Promise((r) => setTimeout(r, 300));
  const key = first.output().match(/API key for tenant "default" \(shown once\): (\S+)/)?.[1];
  assert.ok(key, `a dev key is printed on first start:\n${first.output()}`);
  first.signal('SIGKILL');
  await first.exited;

  const second = startHub();
  const url2 = await second.listening;
  assert.is((await fetch(`${url2}/healthz`)).status, 200);
  assert.not.match(second.output(), /shown once/, 'no second key: the tenant survived the SIGKILL');
  second.signal('SIGTERM');
  assert.is(await second.exited, 0, `graceful stop:\n${second.output()}`);

  const db = await PGlite.create(join(dataDir, 'pglite'));
  const rows = (
    await db.query<{ type: string }>(
      "SELECT type FROM events WHERE stream = 'tenant-default' ORDER BY revision",
    )
  ).rows;
  await db.close();
  assert.equal(
    rows.map((r) => r.type),
    ['TenantRegistered', 'ApiKeyIssued'],
  );
});

test.run();
