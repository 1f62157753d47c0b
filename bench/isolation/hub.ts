/**
 * The hub under attack in the isolation benchmark, in a process of its own so that its memory is its own:
 * a whole hub (BENCH_RUNTIME=embedded|distributed) with two tenants, printing one JSON line
 * `{"url", "pid", "keys": {"a", "b"}}` once ready, and stopping (its data removed) on SIGTERM.
 */
import { type RuntimeKind, startHub } from '../../test/support/hub.ts';

const kind = (process.env.BENCH_RUNTIME ?? 'embedded') as RuntimeKind;
const hub = await startHub(kind, { env: { LOG_LEVEL: 'error' } });
const keys = { a: await hub.addTenant('tenant-a'), b: await hub.addTenant('tenant-b') };
process.stdout.write(`${JSON.stringify({ url: hub.url, pid: process.pid, keys })}\n`);
const stop = async () => {
  await hub.stop().catch(() => {});
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
