import OpenAI from 'openai';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createOpenAIEmbeddings, type OpenAIEmbeddingsOptions } from '../../infra/embeddings/openai.ts';
import { cosine, EmbeddingsError } from '../../infra/embeddings/port.ts';
import { type OpenAIStub, startOpenAIStub, stubEmbedding } from '../support/openai-stub.ts';
import { embeddingsContract } from './embeddings.contract.ts';

// The adapter talks real HTTP through the `openai` package to a scripted OpenAI-compatible server.
const contractStub = await startOpenAIStub({ apiKey: 'sk-contract' });
const contract = embeddingsContract('openai-compatible (stub server)', async () => ({
  embeddings: createOpenAIEmbeddings({
    baseURL: contractStub.baseURL,
    apiKey: 'sk-contract',
    model: 'stub-embedding',
    dimensions: 512,
    batchSize: 64, // so the 150-text contract test crosses batch boundaries
  }),
  cleanup: () => contractStub.close(),
}));
contract.run();

const rejection = async (p: Promise<unknown>): Promise<Error> => {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
};

const adapter = suite('openai embeddings adapter');
let stub: OpenAIStub;
const make = (overrides: Partial<OpenAIEmbeddingsOptions> = {}) =>
  createOpenAIEmbeddings({
    baseURL: overrides.baseURL ?? stub.baseURL,
    apiKey: 'sk-test',
    model: 'stub-embedding',
    dimensions: 512,
    maxRetries: 0,
    ...overrides,
  });
adapter.before.each(async () => {
  stub = await startOpenAIStub({ apiKey: 'sk-test' });
});
adapter.after.each(async () => {
  await stub.close();
});

adapter('sends batches of batchSize, in order, with the model and float encoding', async () => {
  const texts = Array.from({ length: 7 }, (_, i) => `text number ${i}`);
  const vectors = await make({ batchSize: 3 }).embed(texts);
  const requests = stub.requestsTo('/v1/embeddings');
  assert.equal(
    requests.map((r) => (r.body as { input: string[] }).input.length),
    [3, 3, 1],
  );
  const body = requests[0]!.body as Record<string, unknown>;
  assert.is(body.model, 'stub-embedding');
  assert.is(body.encoding_format, 'float');
  assert.is(body.dimensions, undefined, 'dimensions is not sent to a model not known to take it');
  assert.is(requests[0]!.headers.authorization, 'Bearer sk-test');
  for (const [i, v] of vectors.entries())
    assert.ok(cosine(v, stubEmbedding(texts[i]!)) > 0.999999, `text ${i}`);
});

adapter('embed([]) makes no request', async () => {
  assert.equal(await make().embed([]), []);
  assert.is(stub.requests.length, 0);
});

adapter('never sends an empty string (OpenAI rejects it): blank texts go as one space', async () => {
  const [v] = await make().embed(['']);
  assert.is(v!.length, 512);
  assert.equal((stub.requests[0]!.body as { input: string[] }).input, [' ']);
});

adapter('normalises the vectors of a server that does not', async () => {
  await stub.close();
  stub = await startOpenAIStub({ apiKey: 'sk-test', normaliseEmbeddings: false });
  assert.ok(Math.hypot(...stubEmbedding('raw vector', 512, false)) > 1.5, 'the stub really is unnormalised');
  const [v] = await make().embed(['raw vector']);
  assert.ok(Math.abs(Math.hypot(...v!) - 1) < 1e-9);
});

adapter('requestDimensions sends dimensions and gets vectors of that size', async () => {
  const e = make({ dimensions: 256, requestDimensions: true });
  const [v] = await e.embed(['shorter vectors']);
  assert.is(v!.length, 256);
  assert.is((stub.requests[0]!.body as { dimensions: number }).dimensions, 256);
  // text-embedding-3-* models get it by default
  await make({ model: 'text-embedding-3-small', dimensions: 64 }).embed(['x']);
  assert.is((stub.requests[1]!.body as { dimensions: number }).dimensions, 64);
});

adapter('base64 encoding decodes to the same vectors as float', async () => {
  const texts = ['alpha beta', 'gamma delta epsilon'];
  const floats = await make().embed(texts);
  const b64 = await make({ encodingFormat: 'base64' }).embed(texts);
  assert.is((stub.requests[1]!.body as { encoding_format: string }).encoding_format, 'base64');
  for (const [i, v] of b64.entries()) assert.ok(cosine(v, floats[i]!) > 0.999999, `text ${i}`);
});

adapter('a wrong API key is a clear EmbeddingsError with the status, model and URL', async () => {
  const err = await rejection(make({ apiKey: 'sk-wrong' }).embed(['hello']));
  assert.instance(err, EmbeddingsError);
  assert.match(err.message, 'HTTP 401');
  assert.match(err.message, 'Incorrect API key');
  assert.match(err.message, 'stub-embedding');
  assert.match(err.message, stub.baseURL);
});

adapter('vectors of the wrong size are a clear error', async () => {
  const err = await rejection(make({ dimensions: 1536 }).embed(['hello']));
  assert.instance(err, EmbeddingsError);
  assert.match(err.message, 'returned 512-dimensional vectors, but dimensions is 1536');
});

adapter('a server error is retried (maxRetries), then reported', async () => {
  await stub.close();
  stub = await startOpenAIStub({
    apiKey: 'sk-test',
    embeddingsError: (body, call) =>
      body.input && (body.input as string[])[0] === 'never'
        ? { status: 503, message: 'overloaded', retryAfterMs: 1 }
        : call < 2
          ? { status: 503, message: 'overloaded', retryAfterMs: 1 }
          : undefined,
  });
  const [v] = await make({ maxRetries: 2 }).embed(['eventually']);
  assert.is(v!.length, 512);
  assert.is(stub.requestsTo('/v1/embeddings').length, 3, 'two failures, then success');
  const err = await rejection(make({ maxRetries: 1 }).embed(['never']));
  assert.instance(err, EmbeddingsError);
  assert.match(err.message, 'HTTP 503: overloaded');
  assert.is(stub.requestsTo('/v1/embeddings').length, 5, 'one retry, then the error');
});

adapter('an unreachable server is a clear error, not a hang', async () => {
  const url = stub.baseURL;
  await stub.close();
  const err = await rejection(make({ baseURL: url, timeoutMs: 5000 }).embed(['hello']));
  assert.instance(err, EmbeddingsError);
  assert.match(err.message, 'request failed');
  assert.match(err.message, url);
});

adapter('bad options fail at construction', () => {
  assert.throws(() => make({ dimensions: 0 }), /dimensions must be a positive integer/);
  assert.throws(() => make({ model: '' }), /model is required/);
  assert.throws(() => make({ batchSize: 0 }), /batch size/);
});

adapter.run();

// The stub's chat completions, which LLM-agent tests rely on: checked here through the real client.
const chat = suite('openai stub: chat completions');
chat('answers from its script in order, then says the script is exhausted', async () => {
  const s = await startOpenAIStub({
    chat: ['first answer', { content: 'second', usage: { prompt_tokens: 5, completion_tokens: 1 } }],
  });
  try {
    const client = new OpenAI({ baseURL: s.baseURL, apiKey: 'any', maxRetries: 0 });
    const ask = (q: string) =>
      client.chat.completions.create({ model: 'stub-chat', messages: [{ role: 'user', content: q }] });
    const a = await ask('one');
    assert.is(a.choices[0]!.message.content, 'first answer');
    assert.is(a.choices[0]!.finish_reason, 'stop');
    const b = await ask('two');
    assert.is(b.choices[0]!.message.content, 'second');
    assert.equal(b.usage, { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 });
    const err = await rejection(ask('three'));
    assert.match(err.message, 'chat script exhausted');
    assert.equal(
      s
        .requestsTo('/v1/chat/completions')
        .map((r) => (r.body as { messages: Array<{ content: string }> }).messages[0]!.content),
      ['one', 'two', 'three'],
    );
  } finally {
    await s.close();
  }
});

chat('streams content and tool calls as SSE chunks', async () => {
  const s = await startOpenAIStub({
    chat: [
      'Hello there, streaming world',
      { toolCalls: [{ name: 'search_skills', arguments: { query: 'translate German', limit: 3 } }] },
    ],
  });
  try {
    const client = new OpenAI({ baseURL: s.baseURL, apiKey: 'any', maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: 'stub-chat',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const pieces: string[] = [];
    let finish: string | null = null;
    let usage: unknown = null;
    for await (const c of stream) {
      if (c.usage) usage = c.usage;
      const choice = c.choices[0];
      if (choice?.delta.content) pieces.push(choice.delta.content);
      if (choice?.finish_reason) finish = choice.finish_reason;
    }
    assert.ok(pieces.length > 1, 'several chunks');
    assert.is(pieces.join(''), 'Hello there, streaming world');
    assert.is(finish, 'stop');
    assert.ok(usage, 'a usage chunk when asked for');

    const runner = client.chat.completions.stream({
      model: 'stub-chat',
      messages: [{ role: 'user', content: 'find a skill' }],
      tools: [{ type: 'function', function: { name: 'search_skills', parameters: { type: 'object' } } }],
    });
    const done = await runner.finalChatCompletion();
    const call = done.choices[0]!.message.tool_calls?.[0];
    assert.is(done.choices[0]!.finish_reason, 'tool_calls');
    assert.is(call?.type, 'function');
    if (call?.type !== 'function') throw new Error('no function call');
    assert.is(call.function.name, 'search_skills');
    assert.equal(JSON.parse(call.function.arguments), { query: 'translate German', limit: 3 });
  } finally {
    await s.close();
  }
});

chat('scripted errors and a stream cut mid-way', async () => {
  const s = await startOpenAIStub({
    chat: (request, call) =>
      call === 0
        ? { error: { status: 429, message: 'Rate limit reached' } }
        : { content: `one two three four for ${request.model}`, abortAfterChunks: 2 },
  });
  try {
    const client = new OpenAI({ baseURL: s.baseURL, apiKey: 'any', maxRetries: 0 });
    const err = await rejection(
      client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }),
    );
    assert.instance(err, OpenAI.APIError);
    assert.is((err as InstanceType<typeof OpenAI.APIError>).status, 429);
    const stream = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    const pieces: string[] = [];
    const cut = await rejection(
      (async () => {
        for await (const c of stream)
          if (c.choices[0]?.delta.content) pieces.push(c.choices[0].delta.content);
      })(),
    );
    assert.ok(cut instanceof Error, 'the consumer sees the connection drop');
    assert.equal(pieces, ['one ', 'two ']);
  } finally {
    await s.close();
  }
});

chat.run();
