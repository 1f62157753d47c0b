import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type AgentCommand, agentDecider, canonicalJson } from '../../commands/agent.ts';
import { type AgentEndpoint, type AgentEvent, agentStream, parseAgentStream } from '../../events/agent.ts';
import { streamName } from '../../events/envelope.ts';
import { evolveAgentView } from '../../projections/agents.ts';
import { deciderSpec } from '../support/decider-spec.ts';

const spec = deciderSpec(agentDecider);
const at = '2026-11-25T10:00:00.000Z';
const later = '2026-11-25T11:00:00.000Z';
const endpoint: AgentEndpoint = {
  kind: 'remote',
  cardUrl: 'https://agents.example/.well-known/agent-card.json',
  url: 'https://agents.example/a2a/jsonrpc',
  protocolBinding: 'JSONRPC',
  protocolVersion: '1.0',
  streaming: true,
};
const skills = [{ id: 'translate', name: 'Translate', description: 'Translates text', tags: ['language'] }];
const card = { name: 'Translator', description: 'Translates', version: '1.0.0', skills };
const validators = { etag: '"v1"', maxAgeSeconds: 300, fetchedAt: at };
const validators2 = { etag: '"v1"', maxAgeSeconds: 300, fetchedAt: later };

const register: Extract<AgentCommand, { type: 'RegisterAgent' }> = {
  type: 'RegisterAgent',
  agentId: 'translator',
  name: 'Translator',
  description: 'Translates',
  endpoint,
  skills,
  card,
  validators,
  costPerRequest: 0.5,
  at,
};
const { type: _t, ...registeredData } = register;
const registered: AgentEvent = { type: 'AgentRegistered', data: registeredData };
const disabled: AgentEvent = { type: 'AgentDisabled', data: { reason: 'maintenance', at } };
const deregistered: AgentEvent = { type: 'AgentDeregistered', data: { at } };

test('registering a new agent records AgentRegistered with everything the command carries', () => {
  spec([]).when(register).thenEvents([registered]);
});

test('registering an agent already registered (active or disabled) is refused; after deregistration it is allowed', () => {
  spec([registered])
    .when(register)
    .thenFails('rule_violated', /already registered/);
  spec([registered, disabled])
    .when(register)
    .thenFails('rule_violated', /already registered/);
  spec([registered, deregistered]).when(register).thenEvents([registered]);
});

test('every change to an unknown or deregistered agent is not found', () => {
  const changes: AgentCommand[] = [
    { type: 'UpdateAgent', costPerRequest: 1, at },
    { type: 'DisableAgent', reason: 'x', at },
    { type: 'EnableAgent', at },
    { type: 'DeregisterAgent', at },
    { type: 'RevalidateCard', validators, at },
    { type: 'RefreshCard', name: 'n', description: 'd', endpoint, skills, card, validators, at },
  ];
  for (const c of changes) {
    spec([]).when(c).thenFails('not_found');
    spec([registered, deregistered]).when(c).thenFails('not_found');
  }
});

test('a refresh with a changed card is AgentCardRefreshed; the same card is only a revalidation', () => {
  const changedCard = { ...card, version: '1.1.0' };
  const refresh = {
    type: 'RefreshCard' as const,
    name: 'Translator',
    description: 'Translates',
    endpoint,
    skills,
    card: changedCard,
    validators: validators2,
    at: later,
  };
  const { type: _r, ...refreshedData } = refresh;
  spec([registered])
    .when(refresh)
    .thenEvents([{ type: 'AgentCardRefreshed', data: refreshedData }]);
  spec([registered])
    .when({ ...refresh, card })
    .thenEvents([{ type: 'AgentCardRevalidated', data: { validators: validators2, at: later } }]);
  // After the refresh, the new card is the one compared against.
  spec([registered, { type: 'AgentCardRefreshed', data: refreshedData }])
    .when(refresh)
    .thenEvents([{ type: 'AgentCardRevalidated', data: { validators: validators2, at: later } }]);
});

test('the card comparison ignores key order (PostgreSQL jsonb does not keep it)', () => {
  const reordered = { skills, version: '1.0.0', description: 'Translates', name: 'Translator' };
  assert.is(canonicalJson(reordered), canonicalJson(card));
  const reloaded: AgentEvent = { type: 'AgentRegistered', data: { ...registeredData, card: reordered } };
  spec([reloaded])
    .when({
      type: 'RefreshCard',
      name: 'Translator',
      description: 'Translates',
      endpoint,
      skills,
      card,
      validators: validators2,
      at: later,
    })
    .thenEvents([{ type: 'AgentCardRevalidated', data: { validators: validators2, at: later } }]);
});

test('a 304 revalidation moves the validators only', () => {
  spec([registered])
    .when({ type: 'RevalidateCard', validators: validators2, at: later })
    .thenEvents([{ type: 'AgentCardRevalidated', data: { validators: validators2, at: later } }]);
});

test('an update records only what changes; nothing changed is no event', () => {
  spec([registered])
    .when({ type: 'UpdateAgent', costPerRequest: 2, at })
    .thenEvents([{ type: 'AgentUpdated', data: { costPerRequest: 2, at } }]);
  spec([registered]).when({ type: 'UpdateAgent', costPerRequest: 0.5, at }).thenEvents([]);
  spec([registered]).when({ type: 'UpdateAgent', description: 'Translates', at }).thenEvents([]);
  spec([registered])
    .when({ type: 'UpdateAgent', description: 'Better', at })
    .thenEvents([{ type: 'AgentUpdated', data: { description: 'Better', at } }]);
});

test('disable and enable are idempotent; a disabled agent can be deregistered', () => {
  spec([registered]).when({ type: 'DisableAgent', reason: 'maintenance', at }).thenEvents([disabled]);
  spec([registered, disabled]).when({ type: 'DisableAgent', reason: 'again', at }).thenEvents([]);
  spec([registered, disabled])
    .when({ type: 'EnableAgent', at })
    .thenEvents([{ type: 'AgentEnabled', data: { at } }]);
  spec([registered]).when({ type: 'EnableAgent', at }).thenEvents([]);
  spec([registered, disabled]).when({ type: 'DeregisterAgent', at }).thenEvents([deregistered]);
});

test('agent streams are per tenant, valid stream names, and parse back', () => {
  const stream = agentStream('acme', 'translator');
  assert.is(stream, 'agent-acme:translator');
  assert.ok(streamName.safeParse(stream).success);
  assert.equal(parseAgentStream(stream), { tenant: 'acme', agentId: 'translator' });
  assert.equal(parseAgentStream('agent-system:echo'), { tenant: 'system', agentId: 'echo' });
  assert.is(parseAgentStream('task-123'), null);
  assert.is(parseAgentStream('agent-noseparator'), null);
  assert.is.not(agentStream('a', 'b_c'), agentStream('a_b', 'c'));
});

test('the admin view folds the events: status, reason, cost, card and refresh due time', () => {
  const meta = (revision: number) => ({ tenant: 'acme', agentId: 'translator', revision });
  let view = evolveAgentView(null, registered, meta(0));
  assert.is(view?.status, 'active');
  assert.is(view?.refreshDueAt, '2026-11-25T10:05:00.000Z');
  assert.is(view?.builtIn, false);
  view = evolveAgentView(view, disabled, meta(1));
  assert.is(view?.status, 'disabled');
  assert.is(view?.disabledReason, 'maintenance');
  view = evolveAgentView(view, { type: 'AgentEnabled', data: { at: later } }, meta(2));
  assert.is(view?.status, 'active');
  assert.is(view?.disabledReason, undefined);
  view = evolveAgentView(
    view,
    { type: 'AgentCardRevalidated', data: { validators: validators2, at: later } },
    meta(3),
  );
  assert.is(view?.refreshDueAt, '2026-11-25T11:05:00.000Z');
  view = evolveAgentView(view, { type: 'AgentUpdated', data: { costPerRequest: 3, at: later } }, meta(4));
  assert.is(view?.costPerRequest, 3);
  assert.is(view?.revision, 4);
  assert.is(evolveAgentView(view, deregistered, meta(5)), null);
  assert.is(evolveAgentView(null, disabled, meta(0)), null);
});

test.run();
