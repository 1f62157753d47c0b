import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../../app/config.ts';

const base = { AGENTCORE_DATA_DIR: '/tmp/x' };
const llm = { ...base, AGENTCORE_LLM_URL: 'http://127.0.0.1:11434/v1', AGENTCORE_LLM_MODEL: 'llama3.2' };
const writer = { id: 'writer', name: 'Writer', description: 'Writes copy', system: 'You write copy.' };

test('LLM agents: none by default, the key defaulting for local servers', () => {
  assert.equal(loadConfig(base).llm, { baseURL: undefined, apiKey: 'none', model: undefined, agents: [] });
});

test('LLM agents: inline JSON, with a default skill and the model left to the default', () => {
  const { llm: c } = loadConfig({
    ...llm,
    AGENTCORE_LLM_KEY: 'sk-test',
    AGENTCORE_LLM_AGENTS: JSON.stringify([writer, { ...writer, id: 'poet', model: 'big', temperature: 1 }]),
  });
  assert.is(c.baseURL, 'http://127.0.0.1:11434/v1');
  assert.is(c.apiKey, 'sk-test');
  assert.is(c.model, 'llama3.2');
  assert.equal(
    c.agents.map((a) => [a.id, a.model, a.temperature]),
    [
      ['writer', undefined, undefined],
      ['poet', 'big', 1],
    ],
  );
  assert.equal(c.agents[0]!.skills, [
    { id: 'writer', name: 'Writer', description: 'Writes copy', tags: ['llm'] },
  ]);
});

test('LLM agents: from a JSON file', () => {
  const dir = mkdtempSync(join(os.tmpdir(), 'agentcore-config-'));
  try {
    const file = join(dir, 'agents.json');
    const skills = [{ id: 'slogans', name: 'Slogans', description: 'Short slogans', tags: ['marketing'] }];
    writeFileSync(file, JSON.stringify([{ ...writer, skills }]));
    const { agents } = loadConfig({ ...llm, AGENTCORE_LLM_AGENTS: file }).llm;
    assert.equal(agents[0]!.skills, skills);
    assert.throws(
      () => loadConfig({ ...llm, AGENTCORE_LLM_AGENTS: join(dir, 'missing.json') }),
      /AGENTCORE_LLM_AGENTS: cannot read the file .*missing\.json \(ENOENT/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('LLM agents: readable configuration errors', () => {
  const agents =
    (value: unknown, env: Record<string, string> = llm) =>
    () =>
      loadConfig({ ...env, AGENTCORE_LLM_AGENTS: typeof value === 'string' ? value : JSON.stringify(value) });
  assert.throws(
    agents([writer], base),
    /AGENTCORE_LLM_AGENTS needs AGENTCORE_LLM_URL \(an OpenAI-compatible base URL/,
  );
  assert.throws(agents([writer], { ...base, AGENTCORE_LLM_URL: 'http://h/v1' }), (e: Error) =>
    e.message.includes('agent 0 ("writer"): model: required when AGENTCORE_LLM_MODEL is not set'),
  );
  assert.throws(agents([writer, { ...writer, id: 'x', system: undefined }]), (e: Error) =>
    e.message.includes('AGENTCORE_LLM_AGENTS: agent 1 ("x"): system: required'),
  );
  assert.throws(agents([{ ...writer, id: 'Not An Id', maxTokens: 0 }]), (e: Error) =>
    e.message.includes(
      'agent 0 ("Not An Id"): id: agent ids are 1-63 chars of a-z, 0-9, "_" or "-"; maxTokens: Too small',
    ),
  );
  assert.throws(agents([{ ...writer, prompt: 'typo' }]), /agent 0 \("writer"\): Unrecognized key: "prompt"/);
  assert.throws(agents([writer, writer]), /the agent id "writer" is given twice/);
  assert.throws(agents('[{'), /AGENTCORE_LLM_AGENTS is not JSON/);
  assert.throws(agents({ ...writer }), /must be a JSON array of agent specs/);
  assert.throws(() => loadConfig({ ...base, AGENTCORE_LLM_URL: 'localhost' }), /AGENTCORE_LLM_URL/);
});

test.run();
