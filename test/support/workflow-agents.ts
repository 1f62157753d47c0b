/**
 * In-process agents for workflow tests (deterministic in what they answer, counted in what they were asked)
 * and the order workflow they play in.
 */
import type { Agent, AgentUpdate } from '../../agents/agent.ts';
import { textOf } from '../../agents/agent.ts';
import { agentDirectory } from '../../agents/directory.ts';
import { echoAgent, scenarioAgent } from '../../agents/scenario.ts';
import { WorkflowBuilder } from '../../workflows/builder.ts';

/** Every call any test agent received, in order: what ran, how often, and in which order. */
export const calls: string[] = [];
const seen = new Map<string, number>();
const artifact = (text: string): AgentUpdate => ({
  kind: 'artifact',
  artifact: { artifactId: crypto.randomUUID(), parts: [{ text }] },
});
const agent = (
  id: string,
  behave: (text: string, nth: number) => AgentUpdate[],
  skills: Agent['skills'] = [],
): Agent => ({
  id,
  name: id,
  description: `workflow test agent ${id}`,
  skills,
  async *run({ input }) {
    const text = textOf(input);
    const nth = (seen.get(`${id}:${text}`) ?? 0) + 1;
    seen.set(`${id}:${text}`, nth);
    calls.push(`${id}:${text}`);
    yield* behave(text, nth);
  },
});
const fail = (why: string): AgentUpdate => ({
  kind: 'status',
  state: 'TASK_STATE_FAILED',
  parts: [{ text: why }],
});
export const workflowTestAgents = agentDirectory(
  [
    scenarioAgent,
    echoAgent,
    agent('stock', (t) => [artifact(`stock(${t})`)]),
    // Declines anything mentioning "decline"; fails the first attempt of anything mentioning "flaky".
    agent('payments', (t, nth) =>
      t.includes('decline')
        ? [fail('card declined')]
        : t.includes('flaky') && nth === 1
          ? [fail('gateway timeout')]
          : [artifact(`paid(${t})${t.includes('vip') ? ' express' : ''}`)],
    ),
    // The patterns' agents (workflows/patterns.ts), scripted: a supervisor that plans and answers, a
    // worker, a triage agent and two specialists.
    agent('planner', (t) => {
      if (t.startsWith('Break')) {
        const task = t.split('\n').slice(1).join(' ');
        const topic = /topic: (\w+)/.exec(task)?.[1];
        return [
          artifact(
            topic
              ? `look up ${topic}\nexplain ${topic}\nquiz on ${topic}`
              : `part A of ${task}\npart B of ${task}`,
          ),
        ];
      }
      const results = t.split('\n').slice(2, -1);
      return [artifact(`final[${results.join(' + ')}]`)];
    }),
    agent('worker', (t) => [artifact(`done(${t})`)]),
    agent('triage', (t) =>
      t.includes('refund')
        ? [artifact('handoff:billing wants money back')]
        : t.includes('error')
          ? [artifact('handoff:tech sees an error')]
          : [artifact(`answered: ${t}`)],
    ),
    agent('billing', (t) => [artifact(`billing saw: ${t.replace(/\n+/g, ' / ')}`)]),
    agent('tech', (t) => [artifact(`tech saw: ${t.replace(/\n+/g, ' / ')}`)]),
    // The network pattern's agents: a front desk that addresses the others by capability only, and agents
    // found by routing through their skills.
    agent('frontdesk', (t) => [
      artifact(
        t.includes('crash')
          ? 'handoff:diagnostics the app crashes'
          : t.includes('refund')
            ? 'handoff:refunds customer wants money back'
            : t.includes('horoscope')
              ? 'handoff:astrology'
              : t.includes('loop')
                ? 'handoff:ping-pong round we go'
                : `frontdesk answered: ${t}`,
      ),
    ]),
    agent(
      'diagnostician',
      (t) => [
        artifact(
          t.includes('charged')
            ? 'handoff:refunds the crash charged the card twice'
            : `diagnosed: ${t.split('\n')[0]}`,
        ),
      ],
      [
        {
          id: 'diagnostics',
          name: 'Diagnose crashes',
          description: 'Finds the cause of application crashes and errors',
          tags: ['diagnostics', 'crashes'],
        },
      ],
    ),
    agent('refunder', (t) => [artifact(`refund issued: ${t.split('\n')[0]}`)], [
      {
        id: 'refunds',
        name: 'Issue refunds',
        description: 'Refunds payments and charges to customers',
        tags: ['refunds', 'billing'],
      },
    ]),
    agent('pinger', () => [artifact('handoff:ping-pong again')], [
      { id: 'ping-pong', name: 'Ping pong', description: 'Bounces work back', tags: ['ping-pong'] },
    ]),
    // Never finishes on its own: only a cancel (a step timeout) stops it.
    {
      id: 'sleeper',
      name: 'sleeper',
      description: 'works until canceled',
      skills: [],
      async *run({ signal }) {
        yield { kind: 'status', state: 'TASK_STATE_WORKING', parts: [{ text: 'thinking' }] };
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
      },
    },
    // Adds a "+" to the draft it is given; the third one is approved.
    agent('drafter', (t) => {
      const n = (t.match(/\+/g) ?? []).length + 1;
      return [artifact(`${'+'.repeat(n)}${n >= 3 ? ' APPROVED' : ''}`)];
    }),
    // Asks for input on its first call; the follow-up completes the task with the answer.
    agent('approver', (t, nth) =>
      nth === 1 && !t.startsWith('yes')
        ? [{ kind: 'status', state: 'TASK_STATE_INPUT_REQUIRED', parts: [{ text: 'approve?' }] }]
        : [artifact(`approved(${t})`)],
    ),
  ],
  scenarioAgent.id,
);

/** reserve -> charge (2 attempts) -> ship, or express when the charge says so; reserve and charge are compensated. */
export const orderWorkflow = (name: string) =>
  new WorkflowBuilder(name)
    .task('reserve', {
      agent: 'stock',
      input: '{{input}}',
      compensate: { agent: 'stock', input: 'release {{steps.reserve.output}}' },
    })
    .task('charge', {
      agent: 'payments',
      input: 'charge {{input}}',
      retry: { maxAttempts: 2 },
      compensate: { agent: 'stock', input: 'refund {{steps.charge.output}}' },
    })
    .decide('speed', [{ when: { step: 'charge', contains: 'express' }, next: 'express' }], 'ship')
    .task('ship', { agent: 'echo', input: 'ship {{steps.reserve.output}}', end: true })
    .task('express', { agent: 'echo', input: 'express {{steps.reserve.output}}' })
    .build();

/** ask (the approver: input-required first) -> done. */
export const approvalWorkflow = () =>
  new WorkflowBuilder('approval')
    .task('ask', { agent: 'approver', input: 'spend {{input}}' })
    .task('done', { agent: 'echo', input: 'ok: {{steps.ask.output}}' })
    .build();
