/**
 * Response checks of the A2A benchmark: every response of every cell goes through one of these, so a
 * system that answers fast but wrong shows up as FAILED instead of winning. Each returns null when the
 * response is right, or a short reason. Shapes are A2A v1.0 JSON-RPC (A2A.md §1.3, §1.4).
 */

export type Verdict = string | null;

type Json = Record<string, unknown>;
const isObject = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

const COMPLETED = 'TASK_STATE_COMPLETED';

const partsText = (parts: unknown) =>
  Array.isArray(parts)
    ? parts.map((p) => (isObject(p) && typeof p.text === 'string' ? p.text : '')).join('')
    : '';

const stateOf = (task: Json) => (isObject(task.status) ? task.status.state : undefined);

/** A task that is COMPLETED and holds an artifact whose text is `text`. */
export const checkCompletedTask = (task: unknown, text: string): Verdict => {
  if (!isObject(task)) return 'result holds no task';
  if (stateOf(task) !== COMPLETED) return `state ${String(stateOf(task))}, not ${COMPLETED}`;
  const artifacts = Array.isArray(task.artifacts) ? task.artifacts : [];
  if (!artifacts.some((a) => isObject(a) && partsText(a.parts) === text))
    return 'no artifact echoes the text';
  return null;
};

/** Parses a JSON-RPC response body: its result, or why there is none. */
export const rpcResult = (status: number, body: string): { result?: unknown; error?: string } => {
  if (status !== 200) return { error: `HTTP ${status}` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { error: 'body is not JSON' };
  }
  if (!isObject(parsed)) return { error: 'body is not a JSON-RPC response' };
  if (isObject(parsed.error))
    return { error: `JSON-RPC error ${parsed.error.code}: ${parsed.error.message}` };
  if (!('result' in parsed)) return { error: 'JSON-RPC response without result' };
  return { result: parsed.result };
};

/** A blocking SendMessage: `{task}` completed with the echo of `text`. */
export const checkSend = (status: number, body: string, text: string): Verdict => {
  const { result, error } = rpcResult(status, body);
  if (error) return error;
  return checkCompletedTask(isObject(result) ? result.task : undefined, text);
};

/** A blocking SendMessage whose task ends in `state` (whatever it answers with). */
export const checkSendState = (status: number, body: string, state: string): Verdict => {
  const { result, error } = rpcResult(status, body);
  if (error) return error;
  const task = isObject(result) ? result.task : undefined;
  if (!isObject(task)) return 'result holds no task';
  return stateOf(task) === state ? null : `state ${String(stateOf(task))}, not ${state}`;
};

/** GetTask of a pool task: that task, completed. */
export const checkGet = (status: number, body: string, taskId: string): Verdict => {
  const { result, error } = rpcResult(status, body);
  if (error) return error;
  if (!isObject(result) || result.id !== taskId) return 'not the task asked for';
  return stateOf(result) === COMPLETED ? null : `state ${String(stateOf(result))}`;
};

/**
 * The JSON-RPC SSE frames of a stream body, in order. `complete` is false when the body stops inside a
 * frame (no blank line after the last data), which is how a cut connection looks.
 */
export const parseSse = (body: string): { events: unknown[]; complete: boolean; error?: string } => {
  const events: unknown[] = [];
  const frames = body.replace(/\r\n/g, '\n').split('\n\n');
  const tail = frames.pop() ?? '';
  for (const frame of frames) {
    const data = frame
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).replace(/^ /, ''))
      .join('\n');
    if (!data) continue; // comments / keep-alives / id-only frames
    try {
      events.push(JSON.parse(data));
    } catch {
      return { events, complete: false, error: 'an SSE frame is not JSON' };
    }
  }
  return { events, complete: tail.trim() === '' };
};

/** The StreamResponse of each frame (`result`), or the first JSON-RPC error. */
const streamResults = (events: unknown[]): { results: Json[]; error?: string } => {
  const results: Json[] = [];
  for (const e of events) {
    if (!isObject(e)) return { results, error: 'an SSE frame is not a JSON-RPC response' };
    if (isObject(e.error)) return { results, error: `JSON-RPC error ${e.error.code}: ${e.error.message}` };
    if (!isObject(e.result)) return { results, error: 'an SSE frame without result' };
    results.push(e.result);
  }
  return { results };
};

const finalState = (r: Json | undefined) => {
  if (!r) return undefined;
  if (isObject(r.statusUpdate) && isObject(r.statusUpdate.status)) return r.statusUpdate.status.state;
  if (isObject(r.task)) return stateOf(r.task);
  return undefined;
};

/** Streamed text: artifact updates (appends concatenated per artifact id) and artifacts of task snapshots. */
const streamedTexts = (results: Json[]) => {
  const byId = new Map<string, string>();
  const texts: string[] = [];
  for (const r of results) {
    if (isObject(r.artifactUpdate) && isObject(r.artifactUpdate.artifact)) {
      const a = r.artifactUpdate.artifact;
      const id = String(a.artifactId);
      const prev = r.artifactUpdate.append === true ? (byId.get(id) ?? '') : '';
      byId.set(id, prev + partsText(a.parts));
    }
    if (isObject(r.task) && Array.isArray(r.task.artifacts))
      for (const a of r.task.artifacts) if (isObject(a)) texts.push(partsText(a.parts));
  }
  return [...byId.values(), ...texts];
};

/** A SendStreamingMessage read to its end: closed after a COMPLETED event, the echo of `text` on the way. */
export const checkStream = (status: number, body: string, text: string): Verdict => {
  if (status !== 200) return `HTTP ${status}`;
  const sse = parseSse(body);
  if (sse.error) return sse.error;
  if (!sse.complete) return 'stream cut inside a frame';
  const { results, error } = streamResults(sse.events);
  if (error) return error;
  if (results.length === 0) return 'empty stream';
  const last = finalState(results.at(-1));
  if (last !== COMPLETED) return `stream ended at ${String(last)}, not ${COMPLETED}`;
  return streamedTexts(results).includes(text) ? null : 'the echoed text never arrived';
};

/**
 * A SubscribeToTask stream of the subscribe scenario: the task first (input-required), and closed right
 * after a COMPLETED event. Returns the number of StreamResponses it delivered along with the verdict.
 */
export const checkSubscription = (body: string): { verdict: Verdict; events: number } => {
  const sse = parseSse(body);
  const { results, error } = streamResults(sse.events);
  const events = results.length;
  if (sse.error || error) return { verdict: sse.error ?? error ?? null, events };
  if (!sse.complete) return { verdict: 'stream cut inside a frame', events };
  const first = results[0];
  if (!first || !isObject(first.task)) return { verdict: 'the first event is not the task', events };
  const last = finalState(results.at(-1));
  return { verdict: last === COMPLETED ? null : `stream ended at ${String(last)}`, events };
};
