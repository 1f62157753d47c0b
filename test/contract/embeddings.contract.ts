/**
 * The embeddings contract: every adapter of infra/embeddings/port.ts must pass it. A test file calls
 * `embeddingsContract(name, make)` and runs the returned uvu suite. `make` is called once, before the
 * first test; `cleanup` (if any) runs after the last.
 *
 * The texts are chosen so that an adapter passes on meaning OR on shared words: the paraphrase shares
 * most of its words with the original and the unrelated sentence shares none. An adapter file adds its
 * own tests for what only it can do (a real model ranks a paraphrase with different words, say).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cosine, type Embeddings } from '../../infra/embeddings/port.ts';

export interface EmbeddingsUnderTest {
  embeddings: Embeddings;
  cleanup?: () => Promise<void>;
}

export interface EmbeddingsContractOptions {
  /** Register every test as skipped (the service is not there). */
  skip?: boolean;
  /** A test that takes longer fails instead of hanging the run (default 60 s). */
  timeoutMs?: number;
}

/** Float32 models give the same text slightly different last bits in different batches. */
const TOLERANCE = 1e-5;

const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

const assertClose = (actual: number[], expected: number[], what: string) => {
  assert.is(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  assert.ok(worst <= TOLERANCE, `${what}: largest component difference ${worst} > ${TOLERANCE}`);
};

const assertVectors = (vectors: unknown, count: number, dimensions: number) => {
  assert.ok(Array.isArray(vectors), 'embed resolves with an array');
  const vs = vectors as unknown[];
  assert.is(vs.length, count, 'one vector per text');
  for (const [i, v] of vs.entries()) {
    assert.ok(Array.isArray(v), `vector ${i} is a plain array`);
    assert.is((v as number[]).length, dimensions, `vector ${i} has ${dimensions} dimensions`);
    assert.ok(
      (v as number[]).every((x) => typeof x === 'number' && Number.isFinite(x)),
      `vector ${i}: finite numbers`,
    );
  }
};

export const SENTENCES = {
  original: 'Book a flight to Paris for next Tuesday',
  paraphrase: 'Please book me a flight to Paris next Tuesday',
  unrelated: 'The mitochondria is the powerhouse of the cell',
};

const varied = [
  SENTENCES.original,
  'Summarise this quarterly revenue report in three bullet points',
  'Translate the following paragraph from German into English',
  'x',
  'Ünïcödé, emoji 🚀 and 日本語 mixed in one line',
  `A long text. ${'The agent routes each task to the skill that fits it best. '.repeat(40)}`,
];

export const embeddingsContract = (
  name: string,
  make: () => Promise<EmbeddingsUnderTest>,
  options: EmbeddingsContractOptions = {},
) => {
  const s = suite(`embeddings contract: ${name}`);
  const timeoutMs = options.timeoutMs ?? 60_000;
  let under: EmbeddingsUnderTest | null = null;
  const get = async () => {
    under ??= await make();
    return under.embeddings;
  };

  const it = (title: string, fn: (e: Embeddings) => Promise<void>) => {
    if (options.skip) return s.skip(title, () => {});
    s(title, async () => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${title}: timed out after ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        await Promise.race([get().then(fn), timeout]);
      } finally {
        clearTimeout(timer);
      }
    });
  };

  s.after(async () => {
    await under?.cleanup?.();
  });

  it('declares its model and dimensions, and every vector has that many', async (e) => {
    assert.type(e.model, 'string');
    assert.ok(e.model.length > 0, 'model is named');
    assert.ok(Number.isInteger(e.dimensions) && e.dimensions > 0, `dimensions ${e.dimensions}`);
    assertVectors(await e.embed(varied), varied.length, e.dimensions);
  });

  it('an empty input array gives an empty array', async (e) => {
    assert.equal(await e.embed([]), []);
  });

  it('is deterministic: the same text gives the same vector, across calls and within a batch', async (e) => {
    const [a] = await e.embed([SENTENCES.original]);
    const [b] = await e.embed([SENTENCES.original]);
    assertClose(b!, a!, 'second call');
    const [c, d] = await e.embed([SENTENCES.original, SENTENCES.original]);
    assertClose(c!, a!, 'in a batch, first');
    assertClose(d!, a!, 'in a batch, second');
  });

  it('vectors are L2-normalised', async (e) => {
    for (const [i, v] of (await e.embed(varied)).entries()) {
      assert.ok(Math.abs(norm(v) - 1) < 1e-6, `|v${i}| = ${norm(v)}`);
    }
  });

  it('a batch gives the same vectors, in the same order, as one text at a time', async (e) => {
    const batched = await e.embed(varied);
    for (const [i, text] of varied.entries()) {
      const [one] = await e.embed([text]);
      assertClose(batched[i]!, one!, `text ${i}`);
    }
  });

  it('a large batch (150 texts) keeps count and order', async (e) => {
    const texts = Array.from(
      { length: 150 },
      (_, i) => `Task ${i}: route request number ${i} to agent ${i % 9}`,
    );
    const all = await e.embed(texts);
    assertVectors(all, texts.length, e.dimensions);
    for (const i of [0, 1, 63, 64, 127, 128, 149]) {
      const [one] = await e.embed([texts[i]!]);
      assertClose(all[i]!, one!, `text ${i}`);
    }
  });

  it('a paraphrase is closer than an unrelated sentence (cosine)', async (e) => {
    const [a, p, u] = await e.embed([SENTENCES.original, SENTENCES.paraphrase, SENTENCES.unrelated]);
    const close = cosine(a!, p!);
    const far = cosine(a!, u!);
    assert.ok(close > far + 0.2, `paraphrase ${close.toFixed(3)} vs unrelated ${far.toFixed(3)}`);
    assert.ok(close > 0.5, `paraphrase similarity ${close.toFixed(3)}`);
  });

  it('an empty or blank string gets a valid unit vector, the same in any batch', async (e) => {
    const [empty] = await e.embed(['']);
    assertVectors([empty], 1, e.dimensions);
    assert.ok(Math.abs(norm(empty!) - 1) < 1e-6, `|v| = ${norm(empty!)}`);
    const [a, blank, b] = await e.embed(['', '  \n\t', SENTENCES.original]);
    assertClose(a!, empty!, 'empty string in a batch');
    assertClose(blank!, empty!, 'whitespace-only string');
    const [original] = await e.embed([SENTENCES.original]);
    assertClose(b!, original!, 'a real text beside blank ones');
  });

  return s;
};
