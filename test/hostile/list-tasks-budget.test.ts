/**
 * ListTasks' share per tenant (a2a-edge/list-tasks.ts, listTasksBudget): a tenant paging through large tasks
 * past its byte rate waits for its next page, while another tenant's page runs at once; and no tenant
 * runs more pages at once than its share.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { listTasksBudget } from '../../a2a-edge/list-tasks.ts';

const tick = () => new Promise((r) => setImmediate(r));

test('past its byte rate a tenant’s next page waits; another tenant’s page runs at once', async () => {
  const budget = listTasksBudget({ perTenant: 2, total: 8, bytesPerSecond: 1000 });
  const started: string[] = [];
  const page = (name: string, bytes: number) => async () => {
    started.push(name);
    return { value: name, bytes };
  };
  // Three seconds' worth of A's rate in one page (its burst is two seconds' worth): A owes one second.
  assert.is(await budget('a', page('a1', 3000)), 'a1');
  const a2 = budget('a', page('a2', 10));
  assert.is(await budget('b', page('b1', 10)), 'b1', 'B is not held by what A owes');
  await tick();
  assert.equal(started, ['a1', 'b1'], 'A’s second page has not started');
  const late = await Promise.race([a2, new Promise((r) => setTimeout(() => r('still waiting'), 300))]);
  assert.is(late, 'still waiting', 'A’s second page still waits after 300 ms');
  assert.is(await a2, 'a2', 'and runs once A has paid');
});

test('a tenant runs at most its share of pages at once; the others of that tenant queue', async () => {
  const budget = listTasksBudget({ perTenant: 2, total: 8, bytesPerSecond: 1_000_000 });
  let running = 0;
  let most = 0;
  const releases: Array<() => void> = [];
  const page = () => async () => {
    running++;
    most = Math.max(most, running);
    await new Promise<void>((r) => releases.push(r));
    running--;
    return { value: 'ok', bytes: 1 };
  };
  const pages = Array.from({ length: 5 }, () => budget('a', page()));
  await tick();
  assert.is(running, 2, 'two pages of A run, three wait');
  const b = budget('b', page());
  await tick();
  assert.is(running, 3, 'B’s page runs beside A’s two');
  while (releases.length > 0 || running > 0) {
    releases.shift()?.();
    await tick();
  }
  await Promise.all([...pages, b]);
  assert.is(most, 3);
});

test.run();
