/**
 * An agent backed by any OpenAI-compatible chat completions endpoint (OpenAI, vLLM, Ollama, llama.cpp,
 * LiteLLM...) through the `openai` package. The task's conversation goes to the model after the agent's
 * system prompt; the reply streams back as one artifact. A reply starting with `INPUT_REQUIRED:` asks the
 * user instead (the rest is the question), and the answer continues the same conversation.
 */
import OpenAI from 'openai';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { z } from 'zod';
import type { Message, Task } from '../events/a2a.ts';
import { AgentSkillInfo } from '../events/agent.ts';
import { type Agent, type AgentUpdate, textOf } from './agent.ts';

export const INPUT_REQUIRED_PREFIX = 'INPUT_REQUIRED:';

/** Deltas arriving closer together than this go out as one artifact update. */
const BATCH_MS = 50;

/** "required" rather than "expected string, received undefined". */
const required = {
  error: (issue: { input?: unknown }) => (issue.input === undefined ? 'required' : undefined),
};

export const LlmAgentSpec = z
  .strictObject({
    id: z
      .string(required)
      .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'agent ids are 1-63 chars of a-z, 0-9, "_" or "-"'),
    name: z.string(required).min(1, 'must not be empty'),
    description: z.string(required).min(1, 'must not be empty'),
    skills: z.array(AgentSkillInfo).min(1, 'give at least one skill, or leave skills out').optional(),
    system: z.string(required).min(1, 'the system prompt must not be empty'),
    /** Falls back to the configured default model (AGENTCORE_LLM_MODEL). */
    model: z.string().min(1, 'must not be empty').optional(),
    temperature: z.number().min(0).max(2).optional(),
    maxTokens: z.number().int().min(1).optional(),
  })
  .transform((s) => ({
    ...s,
    skills: s.skills ?? [{ id: s.id, name: s.name, description: s.description, tags: ['llm'] }],
  }));
export type LlmAgentSpec = z.output<typeof LlmAgentSpec>;
export type LlmAgentSpecInput = z.input<typeof LlmAgentSpec>;

export interface LlmClientOptions {
  /** For example https://api.openai.com/v1 or http://127.0.0.1:11434/v1. */
  baseURL: string;
  /** Local servers accept any key. */
  apiKey?: string;
  /** The model of specs that name none. */
  model?: string;
  /** Retries of 408/409/429/5xx and connection errors, by the openai client (default 2). */
  maxRetries?: number;
  timeoutMs?: number;
}

/** The agents of these specs, sharing one client. */
export const llmAgents = (specs: LlmAgentSpecInput[], options: LlmClientOptions): Agent[] => {
  const client = new OpenAI({
    baseURL: options.baseURL,
    apiKey: options.apiKey ?? 'none',
    maxRetries: options.maxRetries ?? 2,
    timeout: options.timeoutMs ?? 600_000,
  });
  return specs.map((spec) => llmAgent(spec, client, { model: options.model }));
};

/** "Connection error. <- fetch failed <- connect ECONNREFUSED ...": the useful part is deep. */
const causes = (error: unknown): string => {
  const parts: string[] = [];
  for (let e: unknown = error, depth = 0; e !== undefined && depth < 5; depth++) {
    parts.push(e instanceof Error ? e.message || e.name : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(' <- ');
};

const describeError = (error: unknown): string => {
  if (error instanceof OpenAI.APIError && error.status !== undefined) {
    const body = error.error as { message?: unknown } | undefined;
    return `HTTP ${error.status}${typeof body?.message === 'string' ? `: ${body.message}` : ''}`;
  }
  return causes(error);
};

/**
 * The conversation up to the message this run answers. A run repeated for an older trigger may see later
 * messages too; those are not its business.
 */
const conversation = (task: Task, input: Message): ChatCompletionMessageParam[] => {
  const history = task.history ?? [];
  const at = history.findIndex((m) => m.messageId === input.messageId);
  const turns = at < 0 ? [...history, input] : history.slice(0, at + 1);
  return turns.flatMap((m): ChatCompletionMessageParam[] => {
    const content = textOf(m);
    if (!content) return [];
    return [m.role === 'ROLE_USER' ? { role: 'user', content } : { role: 'assistant', content }];
  });
};

/** Could the reply still turn out to start with the prefix? */
const undecided = (text: string) => INPUT_REQUIRED_PREFIX.startsWith(text.trimStart());

export const llmAgent = (
  input: LlmAgentSpecInput,
  client: OpenAI,
  defaults: { model?: string } = {},
): Agent => {
  const spec = LlmAgentSpec.parse(input);
  const model = spec.model ?? defaults.model;
  if (!model) throw new Error(`LLM agent ${spec.id} names no model and no default model is configured`);
  const failed = (text: string): AgentUpdate => ({
    kind: 'status',
    state: 'TASK_STATE_FAILED',
    parts: [{ text: `LLM agent ${spec.id} (model ${model}): ${text}` }],
  });
  return {
    id: spec.id,
    name: spec.name,
    description: spec.description,
    skills: spec.skills,
    async *run({ task, input: message, signal }) {
      // A repeated run of a trigger whose earlier attempt already asked: the question stands.
      if (task.status.state === 'TASK_STATE_INPUT_REQUIRED') return;
      const messages = conversation(task, message);
      const turn = messages.filter((m) => m.role === 'user').length;
      const artifactId = `${task.id}-${spec.id}-${turn}`;
      if (task.history?.[0]?.messageId === message.messageId)
        yield { kind: 'status', state: 'TASK_STATE_WORKING' };
      // The worker derives command ids from the trigger and each update's position, and skips those an
      // earlier attempt (a crashed worker's) recorded. This run's reply differs from that one's, so it
      // spends those positions (one part each) on placeholders, and its last chunk is the whole reply.
      const crashed = task.artifacts?.find((a) => a.artifactId === artifactId)?.parts.length ?? 0;
      for (let i = 0; i < crashed; i++) yield { kind: 'status', state: 'TASK_STATE_WORKING' };

      let text = '';
      let sent = 0;
      let chunks = 0;
      let lastSent = 0;
      let finished = false;
      /** Known once the reply can no longer start with the INPUT_REQUIRED prefix, or does. */
      let answer: boolean | undefined;
      let usage: { promptTokens: number; completionTokens: number } | undefined;
      let answeredBy = model;
      const chunk = (lastChunk: boolean): AgentUpdate => {
        const whole = lastChunk && crashed > 0;
        const update: AgentUpdate = {
          kind: 'artifact',
          artifact: {
            artifactId,
            name: 'reply',
            parts: [{ text: whole ? text : text.slice(sent), mediaType: 'text/plain' }],
            ...(lastChunk ? { metadata: { ...(usage ? { usage } : {}), model: answeredBy } } : {}),
          },
          append: chunks++ > 0 && !whole,
          lastChunk,
        };
        sent = text.length;
        lastSent = Date.now();
        return update;
      };
      try {
        const stream = await client.chat.completions.create(
          {
            model,
            messages: [{ role: 'system', content: spec.system }, ...messages],
            stream: true,
            stream_options: { include_usage: true },
            ...(spec.temperature !== undefined ? { temperature: spec.temperature } : {}),
            ...(spec.maxTokens !== undefined ? { max_tokens: spec.maxTokens } : {}),
          },
          { signal },
        );
        for await (const c of stream) {
          if (c.model) answeredBy = c.model;
          if (c.usage)
            usage = { promptTokens: c.usage.prompt_tokens, completionTokens: c.usage.completion_tokens };
          const choice = c.choices[0];
          if (choice?.finish_reason) finished = true;
          text += choice?.delta?.content ?? '';
          answer ??= undecided(text) ? undefined : !isQuestion(text);
          if (answer && text.length > sent && Date.now() - lastSent >= BATCH_MS) yield chunk(false);
        }
      } catch (error) {
        if (signal.aborted) return;
        yield failed(
          text
            ? `the reply broke off after ${text.length} characters: ${describeError(error)}`
            : describeError(error),
        );
        return;
      }
      if (signal.aborted) return;
      if (!finished) {
        yield failed(`the stream ended after ${text.length} characters without a finish reason`);
        return;
      }
      if (answer === undefined ? isQuestion(text) : !answer) {
        const question = text.trimStart().slice(INPUT_REQUIRED_PREFIX.length).trim();
        yield {
          kind: 'status',
          state: 'TASK_STATE_INPUT_REQUIRED',
          parts: [{ text: question || 'Please provide more input.' }],
        };
        return;
      }
      yield chunk(true);
      yield { kind: 'status', state: 'TASK_STATE_COMPLETED' };
    },
  };
};

const isQuestion = (text: string) => text.trimStart().startsWith(INPUT_REQUIRED_PREFIX);
