import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  createOfflineEmbeddings,
  OFFLINE_DIMENSIONS,
  OFFLINE_MODEL,
} from '../../infra/embeddings/offline.ts';
import { cosine } from '../../infra/embeddings/port.ts';
import { embeddingsContract } from './embeddings.contract.ts';

// The real model, run from the weights in node_modules: no network, no test double.
const loadStarted = performance.now();
await createOfflineEmbeddings().embed(['load the model']);
const loadMs = performance.now() - loadStarted;

const contract = embeddingsContract('offline (Universal Sentence Encoder lite)', async () => ({
  embeddings: createOfflineEmbeddings(),
}));
contract.run();

const offline = suite('offline embeddings: the real model');
const embeddings = createOfflineEmbeddings();

offline('is the 512-d Universal Sentence Encoder lite', () => {
  assert.is(embeddings.dimensions, 512);
  assert.is(OFFLINE_DIMENSIONS, 512);
  assert.is(embeddings.model, OFFLINE_MODEL);
});

offline('ranks by meaning, not by shared words', async () => {
  const [query, paraphrase, lexical, unrelated] = await embeddings.embed([
    'Book a flight to Paris',
    'Reserve a plane ticket to France', // few shared words, same meaning
    'Read a book about Paris', // shares words, other meaning
    'Bake a chocolate cake for the party',
  ]);
  const p = cosine(query!, paraphrase!);
  const l = cosine(query!, lexical!);
  const u = cosine(query!, unrelated!);
  console.log(
    `  cosine: paraphrase ${p.toFixed(3)}, shared words ${l.toFixed(3)}, unrelated ${u.toFixed(3)}`,
  );
  assert.ok(p > l, `paraphrase ${p.toFixed(3)} > same words, other meaning ${l.toFixed(3)}`);
  assert.ok(p > u + 0.2, `paraphrase ${p.toFixed(3)} > unrelated ${u.toFixed(3)}`);
});

offline('concurrent calls give the same vectors as sequential ones', async () => {
  const texts = ['route this task', 'summarise a document', 'translate to French', 'plan a trip'];
  const sequential: number[][] = [];
  for (const t of texts) sequential.push((await embeddings.embed([t]))[0]!);
  const concurrent = await Promise.all(texts.map(async (t) => (await embeddings.embed([t]))[0]!));
  for (const [i, v] of concurrent.entries()) {
    assert.ok(cosine(v, sequential[i]!) > 0.99999, `text ${i}`);
  }
});

offline('timing: a batch of 100 sentences (printed)', async () => {
  const fresh = createOfflineEmbeddings();
  await fresh.embed(['warm up']); // the model is loaded once per process: no load in what follows
  const sentences = Array.from(
    { length: 100 },
    (_, i) =>
      `Agent ${i} can ${['summarise', 'translate', 'classify', 'search', 'plan'][i % 5]} ${['reports', 'emails', 'contracts', 'tickets'][i % 4]} written in ${['English', 'German', 'French'][i % 3]} (case ${i})`,
  );
  const started = performance.now();
  const vectors = await fresh.embed(sentences);
  const ms = performance.now() - started;
  assert.is(vectors.length, 100);
  console.log(
    `  offline embed: ${(ms / 100).toFixed(2)} ms/sentence (batch of 100 in ${ms.toFixed(0)} ms, batches of 32; model load and first call ${loadMs.toFixed(0)} ms)`,
  );
});

offline.run();
