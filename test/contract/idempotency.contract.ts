/**
 * The idempotency-store contract (infra/idempotency/port.ts): every adapter must pass it. One holder per
 * key among concurrent claims, the answer kept and read back, a released or expired claim free again.
 */
import { randomUUID } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { IdempotencyStore } from '../../infra/idempotency/port.ts';

export const idempotencyContract = (
  name: string,
  make: () => Promise<{ store: IdempotencyStore; cleanup?: () => Promise<void> }>,
) => {
  const s = suite(`idempotency store contract: ${name}`);
  let store: IdempotencyStore;
  let cleanup: (() => Promise<void>) | undefined;
  s.before(async () => {
    ({ store, cleanup } = await make());
  });
  s.after(async () => {
    await store?.close();
    await cleanup?.();
  });

  s('of 20 concurrent claims of one key, exactly one holds it', async () => {
    const key = randomUUID();
    const claims = await Promise.all(Array.from({ length: 20 }, () => store.claim(key, 'fp', 10_000)));
    assert.is(claims.filter((c) => c.kind === 'claimed').length, 1);
    for (const c of claims) if (c.kind !== 'claimed') assert.equal(c, { kind: 'pending', fingerprint: 'fp' });
  });

  s('a completed key gives its answer and its fingerprint', async () => {
    const key = randomUUID();
    assert.is((await store.claim(key, 'fp1', 10_000)).kind, 'claimed');
    const response = { status: 202, contentType: 'application/json', body: '{"runId":"r1","ü":"∂"}' };
    await store.complete(key, 'fp1', response, 60_000);
    assert.equal(await store.claim(key, 'fp2', 10_000), { kind: 'done', fingerprint: 'fp1', response });
  });

  s('a released claim can be taken again; a completed one cannot be released', async () => {
    const key = randomUUID();
    await store.claim(key, 'fp', 10_000);
    await store.release(key);
    assert.is((await store.claim(key, 'fp', 10_000)).kind, 'claimed');
  });

  s('a claim whose holder never answered runs out', async () => {
    const key = randomUUID();
    // Generous: a loaded machine may take a while between two claims, and the claim must still hold.
    assert.is((await store.claim(key, 'fp', 3000)).kind, 'claimed');
    assert.is((await store.claim(key, 'fp', 3000)).kind, 'pending');
    await new Promise((r) => setTimeout(r, 3500));
    assert.is((await store.claim(key, 'fp', 3000)).kind, 'claimed');
  });

  return s;
};
