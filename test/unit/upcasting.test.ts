import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RecordedEvent } from '../../events/envelope.ts';
import { schemaRegistry } from '../../events/upcasting.ts';

const recorded = (type: string, schemaVersion: number, data: unknown): RecordedEvent => ({
  id: 'e1',
  stream: 'task-1',
  revision: 0,
  position: 1,
  type,
  schemaVersion,
  occurredAt: '2026-11-25T00:00:00.000Z',
  data,
  metadata: { tenant: 't', principal: 'p', correlationId: 'c', causationId: null },
});

// TaskSubmitted v1 carried a bare `text`; v2 carries `parts`; v3 added `priority`.
const registry = schemaRegistry({
  TaskSubmitted: {
    1: (d) => ({ parts: [{ text: (d as { text: string }).text }] }),
    2: (d) => ({ ...(d as object), priority: 'normal' }),
  },
});

test('an old event shape is read back through every upcaster in order', () => {
  const up = registry.upcast(recorded('TaskSubmitted', 1, { text: 'hi' }));
  assert.equal(up.schemaVersion, 3);
  assert.equal(up.data, { parts: [{ text: 'hi' }], priority: 'normal' });
});

test('a current event passes through untouched', () => {
  const e = recorded('TaskSubmitted', 3, { parts: [], priority: 'high' });
  assert.is(registry.upcast(e), e);
  assert.is(registry.currentVersion('TaskSubmitted'), 3);
  assert.is(registry.currentVersion('Unknown'), 1);
});

test('an event newer than this build is refused, not misread', () => {
  assert.throws(() => registry.upcast(recorded('TaskSubmitted', 4, {})), /newer than this build/);
});

test.run();
