/** A nats-server of a test's own (the machine's binary, a generated config, a temp store), stopped after. */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';

export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

export interface PrivateNatsServer {
  port: number;
  url: string;
  stop(): Promise<void>;
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

const accepting = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = new Socket();
    socket.once('connect', () => resolve(true)).once('error', () => resolve(false));
    socket.connect(port, '127.0.0.1');
  }).finally(() => undefined);

/**
 * Starts nats-server with JetStream and `config` (nats-server accepts JSON as its config syntax): `listen`
 * and `jetstream.store_dir` are filled in. Resolves once it accepts connections, or fails with its log.
 */
export const startNatsServer = async (config: Record<string, unknown>): Promise<PrivateNatsServer> => {
  const dir = mkdtempSync(join(os.tmpdir(), 'agentcore-nats-'));
  const port = await freePort();
  const file = join(dir, 'nats.conf');
  writeFileSync(
    file,
    JSON.stringify({ ...config, listen: `127.0.0.1:${port}`, jetstream: { store_dir: join(dir, 'js') } }),
  );
  const child: ChildProcess = spawn(NATS_SERVER_BIN, ['-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (const deadline = Date.now() + 10_000; !(await accepting(port)); ) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`nats-server did not start on port ${port}:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

/** Whether this machine can start a nats-server of a test's own. */
export const natsServerAvailable = () => existsSync(NATS_SERVER_BIN);
