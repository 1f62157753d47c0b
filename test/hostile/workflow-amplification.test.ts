/**
 * Template amplification, end to end on both runtimes: a 22 KB definition whose step repeats `{{input}}`
 * 2,400 times, run with a 30 KB input, would render a 70 MB step input (the report's 150 MB one took
 * PGlite out of memory, answered 500 and left the run stuck). Now the step fails with a readable reason,
 * the completed step is compensated and the run fails, no log line carries a payload; a run input over
 * AGENTCORE_MAX_RUN_INPUT_BYTES is a 400, and a command whose event is over AGENTCORE_MAX_EVENT_BYTES is
 * refused having written nothing.
 */
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CommandError } from '../../commands/errors.ts';
import { type Decider, handle } from '../../commands/handle.ts';
import { readWorkflowRun } from '../../workflows/service.ts';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { waitFor } from '../support/wait.ts';

const kinds = await runtimesFor('workflow amplification');
const amplify = {
  name: 'amplify',
  start: 'seed',
  nodes: {
    seed: {
      kind: 'task',
      agent: 'echo',
      input: '{{input}}',
      next: 'boom',
      compensate: { agent: 'echo', input: 'undo seed' },
    },
    boom: { kind: 'task', agent: 'echo', input: '{{input}}'.repeat(2400) },
  },
};
/** A decider that writes whatever it is given: the command handler's limit is all that stands in the way. */
const writer: Decider<{ blob: string }, null, { type: 'Blob'; data: { blob: string } }> = {
  initialState: () => null,
  decide: ({ blob }) => [{ type: 'Blob', data: { blob } }],
  evolve: (state) => state,
};

for (const kind of kinds) {
  const s = suite(`workflow amplification (${kind})`);
  let hub: TestHub;
  /** The length of every log line the hub wrote. */
  const lines: number[] = [];
  const api = (path: string, body: unknown) =>
    fetch(`${hub.url}/api/admin${path}`, {
      method: 'POST',
      headers: { 'X-API-Key': hub.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  s.before(async () => {
    const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line.length) });
    hub = await startHub(kind, { env: { AGENTCORE_MAX_RUN_INPUT_BYTES: '32768' }, overrides: { log } });
  });
  s.after(async () => hub?.stop());

  s(
    'a step whose input would render 70 MB fails with the reason; the run is compensated and ends',
    async () => {
      const defined = await api('/workflows', amplify);
      assert.is(defined.status, 201);
      const started = await api('/workflows/amplify/runs', { input: 'x'.repeat(30_000) });
      assert.is(started.status, 202);
      const { runId } = (await started.json()) as { runId: string };
      const run = await waitFor(
        'the run to end',
        async () => {
          const r = await readWorkflowRun(hub.runtime.store, 'default', runId);
          return r?.status === 'failed' || r?.status === 'completed' ? r : null;
        },
        30_000,
      );
      assert.is(run.status, 'failed');
      assert.equal(run.failure, {
        step: 'boom',
        reason:
          "step 'boom': rendered input is 68.7 MiB, over the 512 KiB limit (AGENTCORE_MAX_STEP_INPUT_BYTES)",
      });
      assert.equal(run.compensated, ['seed']);
      const longest = Math.max(...lines);
      assert.ok(longest < 16_384, `a log line of ${longest} characters`);
    },
  );

  s("a run's input over AGENTCORE_MAX_RUN_INPUT_BYTES is a 400 that says so", async () => {
    const res = await api('/workflows/amplify/runs', { input: 'y'.repeat(40_000) });
    assert.is(res.status, 400);
    const { error } = (await res.json()) as { error: { message: string } };
    assert.is(
      error.message,
      "input: 39.1 KiB, over the 32 KiB limit of a run's input (AGENTCORE_MAX_RUN_INPUT_BYTES)",
    );
  });

  s(
    "through the workflow's A2A endpoint, the same amplification is a failed task that says why",
    async () => {
      const send = async (text: string) => {
        const res = await fetch(`${hub.url}/a2a/workflows/amplify/jsonrpc`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'A2A-Version': '1.0', 'X-API-Key': hub.apiKey },
          body: JSON.stringify({
            jsonrpc: '2.0',
            id: 1,
            method: 'SendMessage',
            params: { message: { messageId: crypto.randomUUID(), role: 'ROLE_USER', parts: [{ text }] } },
          }),
        });
        const { result } = (await res.json()) as {
          result: { task: { status: { state: string; message: { parts: Array<{ text: string }> } } } };
        };
        return result.task.status;
      };
      const amplified = await send('z'.repeat(30_000));
      assert.is(amplified.state, 'TASK_STATE_FAILED');
      assert.is(
        amplified.message.parts[0]!.text,
        "step boom failed: step 'boom': rendered input is 68.7 MiB, over the 512 KiB limit (AGENTCORE_MAX_STEP_INPUT_BYTES); compensated: seed",
      );
      const tooLong = await send('y'.repeat(40_000));
      assert.is(tooLong.state, 'TASK_STATE_FAILED');
      assert.match(
        tooLong.message.parts[0]!.text,
        /input: 39\.1 KiB, over the 32 KiB limit of a run's input/,
      );
    },
  );

  s('a command whose event is over AGENTCORE_MAX_EVENT_BYTES is refused and writes nothing', async () => {
    const stream = `blob-${crypto.randomUUID()}`;
    const ctx = { tenant: 'default', principal: 'test:blob' };
    const big = handle(hub.runtime.store, stream, { blob: 'b'.repeat(3 * 1024 * 1024) }, writer, ctx);
    const error = await big.then(
      () => null,
      (e: unknown) => e,
    );
    assert.instance(error, CommandError);
    assert.is((error as CommandError).kind, 'validation');
    assert.is(
      (error as CommandError).message,
      `Blob on ${stream} would be 3 MiB, over the 768 KiB limit of an event (AGENTCORE_MAX_EVENT_BYTES): nothing was written`,
    );
    assert.equal(await hub.runtime.store.readStream(stream), []);
    // Just under the limit is written.
    await handle(hub.runtime.store, stream, { blob: 'b'.repeat(768 * 1024 - 100) }, writer, ctx);
    assert.is((await hub.runtime.store.readStream(stream)).length, 1);
  });

  s.run();
}
