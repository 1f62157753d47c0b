/** The scenario agent: answers the conformance kit's `tck-*` message ids as its feature files expect. */
import { setTimeout as wait } from 'node:timers/promises';
import type { Agent, AgentUpdate } from './agent.ts';
import { textOf } from './agent.ts';

/** Waits `ms`, or less if the signal aborts first (resolves either way). */
const sleep = (ms: number, signal: AbortSignal) => wait(ms, undefined, { signal }).catch(() => {});

const STREAM_PREFIXES = [
  'tck-stream-001',
  'tck-stream-002',
  'tck-stream-003',
  'tck-stream-ordering-001',
  'tck-stream-artifact-text',
  'tck-stream-artifact-file',
  'tck-stream-artifact-chunked',
];
const PNG_1x1 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';
/** The bytes `tck` of the conformance kit's file artifact, base64. */
const TCK_BYTES = Buffer.from('tck').toString('base64');
/**
 * `tck-delayed-complete` stays WORKING this long: "one streaming timeout" of the conformance kit, whose
 * generated reference agent waits 2 s. Long enough that a returnImmediately send answers while the task
 * still works and a blocking one only once it completed; short enough to keep a conformance run quick.
 */
export const DELAYED_COMPLETE_MS = 2_000;

/**
 * The deterministic scenario agent of the conformance-kit convention (A2A.md §2): the messageId prefix of
 * the task's first user message picks the behaviour, so every lifecycle path can be driven from outside.
 * The texts, names and media types are those of the kit's scenarios/core_operations.feature.
 */
export const scenarioAgent: Agent = {
  id: 'scenario',
  deterministic: true,
  name: 'Scenario agent',
  description:
    'Deterministic conformance agent: behaviour chosen by the messageId prefix; echoes anything else.',
  skills: [
    {
      id: 'conformance-scenarios',
      name: 'Conformance scenarios',
      description:
        'Completes, rejects, streams, asks for input or answers directly, by messageId prefix (tck-*).',
      tags: ['conformance', 'testing', 'a2a'],
      examples: ['tck-complete-task', 'tck-input-required', 'tck-stream-artifact-chunked'],
    },
    {
      id: 'echo',
      name: 'Echo',
      description: 'Echoes the text of the message back as an artifact.',
      tags: ['echo'],
      examples: ['hello there'],
    },
  ],
  async *run({ task, input, signal }): AsyncGenerator<AgentUpdate> {
    const first = task.history?.[0];
    const id = first?.messageId ?? input.messageId;
    const is = (prefix: string) => id.startsWith(prefix);
    const artifactId = `${task.id}-result`;
    if (is('tck-input-required')) {
      if (input.messageId === first?.messageId) {
        yield {
          kind: 'status',
          state: 'TASK_STATE_INPUT_REQUIRED',
          parts: [{ text: 'Please provide more input' }],
        };
        return;
      }
      yield {
        kind: 'status',
        state: 'TASK_STATE_COMPLETED',
        parts: [{ text: `Received: ${textOf(input)}` }],
      };
      return;
    }
    if (is('tck-complete-task')) {
      yield { kind: 'status', state: 'TASK_STATE_COMPLETED', parts: [{ text: 'Hello from TCK' }] };
      return;
    }
    if (is('tck-message-response')) {
      yield { kind: 'reply', parts: [{ text: 'Direct message response' }] };
      return;
    }
    if (is('tck-reject-task')) {
      yield { kind: 'status', state: 'TASK_STATE_REJECTED', parts: [{ text: 'rejected' }] };
      return;
    }
    if (is('tck-delayed-complete')) {
      yield { kind: 'status', state: 'TASK_STATE_WORKING' };
      await sleep(DELAYED_COMPLETE_MS, signal);
      if (signal.aborted) return;
      yield { kind: 'status', state: 'TASK_STATE_COMPLETED', parts: [{ text: 'Done after delay' }] };
      return;
    }
    const artifacts: Record<string, () => AgentUpdate> = {
      'tck-artifact-text': () => ({
        kind: 'artifact',
        artifact: { artifactId, name: 'text', parts: [{ text: 'Generated text content' }] },
      }),
      'tck-artifact-file-url': () => ({
        kind: 'artifact',
        artifact: {
          artifactId,
          name: 'file-url',
          parts: [{ url: 'https://example.com/output.txt', mediaType: 'text/plain', filename: 'output.txt' }],
        },
      }),
      'tck-artifact-file': () => ({
        kind: 'artifact',
        artifact: {
          artifactId,
          name: 'file',
          parts: [{ raw: TCK_BYTES, mediaType: 'text/plain', filename: 'output.txt' }],
        },
      }),
      'tck-artifact-data': () => ({
        kind: 'artifact',
        artifact: {
          artifactId,
          name: 'data',
          parts: [{ data: { key: 'value', count: 42 }, mediaType: 'application/json' }],
        },
      }),
    };
    // Longest prefix first: 'tck-artifact-file-url' before 'tck-artifact-file'.
    const artifactKey = Object.keys(artifacts)
      .sort((a, b) => b.length - a.length)
      .find(is);
    if (artifactKey) {
      yield artifacts[artifactKey]!();
      yield { kind: 'status', state: 'TASK_STATE_COMPLETED' };
      return;
    }
    if (STREAM_PREFIXES.some(is)) {
      yield { kind: 'status', state: 'TASK_STATE_WORKING', parts: [{ text: 'Working...' }] };
      if (is('tck-stream-artifact-chunked')) {
        const chunks = ['chunk-1 ', 'chunk-2 ', 'chunk-3'];
        for (const [i, text] of chunks.entries()) {
          await sleep(20, signal);
          yield {
            kind: 'artifact',
            artifact: { artifactId, name: 'chunked', parts: [{ text }] },
            append: i > 0,
            lastChunk: i === chunks.length - 1,
          };
        }
      } else if (is('tck-stream-artifact-file')) {
        yield {
          kind: 'artifact',
          artifact: { artifactId, name: 'file', parts: [{ raw: PNG_1x1, mediaType: 'image/png' }] },
          lastChunk: true,
        };
      } else {
        yield {
          kind: 'artifact',
          artifact: { artifactId, name: 'stream', parts: [{ text: 'Stream artifact' }] },
          lastChunk: true,
        };
      }
      yield { kind: 'status', state: 'TASK_STATE_COMPLETED', parts: [{ text: 'Stream completed' }] };
      return;
    }
    if (is('test-resubscribe-message-id')) {
      yield { kind: 'status', state: 'TASK_STATE_WORKING', parts: [{ text: 'Working for a while' }] };
      await sleep(4000, signal);
      if (signal.aborted) return;
      yield { kind: 'status', state: 'TASK_STATE_COMPLETED', parts: [{ text: 'Done after waiting' }] };
      return;
    }
    yield* echoAgent.run({ task, input, signal, tenant: '' });
  },
};

/** Echoes the user's text back as an artifact and completes: the benchmark agent. */
export const echoAgent: Agent = {
  id: 'echo',
  name: 'Echo agent',
  description: 'Echoes the text of the message back as an artifact.',
  deterministic: true,
  skills: [
    { id: 'echo', name: 'Echo', description: 'Echoes the text back.', tags: ['echo'], examples: ['hello'] },
  ],
  async *run({ task, input }) {
    const text = textOf(input);
    yield {
      kind: 'artifact',
      artifact: { artifactId: `${task.id}-echo`, name: 'echo', parts: [{ text, mediaType: 'text/plain' }] },
      lastChunk: true,
    };
    yield { kind: 'status', state: 'TASK_STATE_COMPLETED', parts: [{ text, mediaType: 'text/plain' }] };
  },
};
