/**
 * An in-hub agent's update is held to the event size limit as a command is: a huge artifact is refused
 * before anything reaches the log (and so the bus, whose messages are at most 1 MiB), and the worker can
 * fail the task saying why. Against the real PGlite store.
 */
import { PGlite } from '@electric-sql/pglite';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TaskRecorder } from '../../agents/task-recorder.ts';
import { CommandError } from '../../commands/errors.ts';
import { handle, isEventTooLarge } from '../../commands/handle.ts';
import { taskDecider } from '../../commands/task.ts';
import { taskStream } from '../../events/task.ts';
import { createPgliteEventStore } from '../../infra/event-store/pglite.ts';

const at = '2026-12-07T00:00:00.000Z';
const context = { tenant: 'a', principal: 'test', correlationId: 'c' };

test('a 1 MiB artifact from an agent is refused with the reason, and nothing of it is written', async () => {
  const db = await PGlite.create();
  try {
    const store = await createPgliteEventStore({ db });
    const stream = taskStream('t1');
    const submit = {
      type: 'SubmitTask' as const,
      taskId: 't1',
      contextId: 'c1',
      message: { messageId: 'm1', role: 'ROLE_USER' as const, parts: [{ text: 'hi' }] },
      agent: null,
      at,
    };
    await handle(store, stream, submit, taskDecider, context);
    const recorder = new TaskRecorder(store, stream, await store.readStream(stream), context);
    recorder.record({ type: 'StartWork', at }, 'start');
    const huge = { artifactId: 'a1', parts: [{ text: 'x'.repeat(1024 * 1024) }] };
    let refused: unknown;
    try {
      recorder.record({ type: 'UpdateArtifact', artifact: huge, append: false, lastChunk: true, at }, 'art');
    } catch (error) {
      refused = error;
    }
    assert.instance(refused, CommandError);
    assert.ok(isEventTooLarge(refused));
    assert.match(
      (refused as Error).message,
      /TaskArtifactUpdated on task-t1 would be 1 MiB, over the 768 KiB limit/,
    );
    // What the agent said before still goes in, and the failure after it.
    recorder.record(
      {
        type: 'UpdateStatus',
        state: 'TASK_STATE_FAILED',
        message: { messageId: 'f', role: 'ROLE_AGENT', parts: [{ text: (refused as Error).message }] },
        at,
      },
      'failed',
    );
    await recorder.flush();
    const types = (await store.readStream(stream)).map((e) => e.type);
    assert.equal(types, ['TaskSubmitted', 'TaskStatusUpdated', 'TaskStatusUpdated']);
  } finally {
    await db.close();
  }
});

test.run();
