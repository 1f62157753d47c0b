/** The A2A push-notification config operations (create, get, list, delete), scoped to the caller's tenant. */
import { randomUUID } from 'node:crypto';
import { fold, handle } from '../commands/handle.ts';
import {
  findConfig,
  liveConfigs,
  type PushConfigCommand,
  type PushConfigState,
  pushConfigDecider,
} from '../commands/push-config.ts';
import type { PushConfigData } from '../events/push.ts';
import { pushStream } from '../events/push.ts';
import { taskStream } from '../events/task.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import { assertPublicUrl, type Lookup, UnsafeUrlError } from '../infra/ssrf.ts';
import { A2AError, taskNotFound, toA2AError } from './errors.ts';
import type { PushConfigInput } from './schemas.ts';
import type { Caller, PushConfig, PushConfigs } from './service.ts';

export interface PushConfigsDeps {
  store: EventStore;
  /** AGENTCORE_ALLOW_PRIVATE_URLS: webhooks may point at loopback/private addresses. */
  allowPrivateUrls: boolean;
  /** Name resolution for the URL check (tests). */
  lookup?: Lookup;
  /** AGENTCORE_MAX_PUSH_CONFIGS_PER_TASK (default 10): enforced by the push-config decider. */
  maxConfigsPerTask?: number;
  now?: () => string;
}

/** TaskPushNotificationConfig (v1.0) as the wire carries it. */
const toWire = (c: PushConfigData): PushConfig => ({
  id: c.id,
  taskId: c.taskId,
  url: c.url,
  ...(c.token !== undefined ? { token: c.token } : {}),
  ...(c.authentication ? { authentication: c.authentication } : {}),
  ...(c.tenant !== undefined ? { tenant: c.tenant } : {}),
});

/** A2A has no PushConfigNotFound error: TaskNotFound with a message that says what is missing (as @a2a-js/sdk). */
const configNotFound = (taskId: string, id: string) =>
  new A2AError('TASK_NOT_FOUND', `Push notification config with id '${id}' not found for task ${taskId}`, {
    taskId,
    configId: id,
  });

const encodeToken = (id: string) => Buffer.from(JSON.stringify({ after: id })).toString('base64url');
const decodeToken = (token: string): string => {
  try {
    const { after } = JSON.parse(Buffer.from(token, 'base64url').toString()) as { after?: unknown };
    if (typeof after !== 'string' || after === '') throw new Error();
    return after;
  } catch {
    throw new A2AError('INVALID_PARAMS', 'pageToken is not a token this server issued');
  }
};

/**
 * The push-config operations over the push aggregate (stream `push-<taskId>`), scoped to the caller's
 * tenant: another tenant's task does not exist. Webhook URLs are checked against SSRF when set (and again
 * at every delivery, sagas/push-delivery.ts).
 */
export const pushConfigs = (deps: PushConfigsDeps): PushConfigs => {
  const now = deps.now ?? (() => new Date().toISOString());

  const requireTask = async (caller: Caller, taskId: string) => {
    const first = await deps.store.readStream(taskStream(taskId), { maxCount: 1 });
    if (first.length === 0 || first[0]!.metadata.tenant !== caller.tenant) throw taskNotFound(taskId);
  };

  const load = async (caller: Caller, taskId: string): Promise<PushConfigState> => {
    await requireTask(caller, taskId);
    return fold(pushConfigDecider, await deps.store.readStream(pushStream(taskId)));
  };

  const command = async (caller: Caller, taskId: string, cmd: PushConfigCommand) => {
    try {
      return await handle(deps.store, pushStream(taskId), cmd, pushConfigDecider, {
        tenant: caller.tenant,
        principal: caller.principal,
        ...(caller.requestId ? { requestId: caller.requestId } : {}),
        ...(caller.source ? { source: caller.source } : {}),
      });
    } catch (error) {
      throw toA2AError(error);
    }
  };

  const checkUrl = async (input: PushConfigInput) => {
    try {
      await assertPublicUrl(input.url, { allowPrivate: deps.allowPrivateUrls, lookup: deps.lookup });
    } catch (error) {
      if (error instanceof UnsafeUrlError) {
        throw new A2AError('INVALID_PARAMS', `url: push notification URL refused: ${error.message}`);
      }
      throw error;
    }
  };

  return {
    check: checkUrl,
    async create(caller, taskId, input: PushConfigInput) {
      await requireTask(caller, taskId);
      await checkUrl(input);
      const config: PushConfigData = {
        id: input.id ?? randomUUID(),
        taskId,
        url: input.url,
        ...(input.token !== undefined ? { token: input.token } : {}),
        ...(input.authentication ? { authentication: input.authentication } : {}),
        ...(input.tenant !== undefined ? { tenant: input.tenant } : {}),
      };
      await command(caller, taskId, {
        type: 'SetPushConfig',
        config,
        at: now(),
        ...(deps.maxConfigsPerTask ? { maxConfigs: deps.maxConfigsPerTask } : {}),
      });
      return toWire(config);
    },

    async get(caller, taskId, id) {
      const entry = findConfig(await load(caller, taskId), id);
      if (!entry || entry.deleted) throw configNotFound(taskId, id);
      return toWire(entry.config);
    },

    async list(caller, taskId, pageSize, pageToken) {
      const state = await load(caller, taskId);
      let from = 0;
      if (pageToken) {
        // The cursor is the last id handed out; deleted configs keep their place, so it survives deletes.
        const after = decodeToken(pageToken);
        const i = state.configs.findIndex((c) => c.config.id === after);
        if (i < 0) throw new A2AError('INVALID_PARAMS', 'pageToken is not a token this server issued');
        from = i + 1;
      }
      const rest = liveConfigs({ configs: state.configs.slice(from) });
      const page = rest.slice(0, pageSize);
      const last = page[page.length - 1];
      return {
        configs: page.map((c) => toWire(c.config)),
        nextPageToken: rest.length > pageSize && last ? encodeToken(last.config.id) : '',
      };
    },

    async delete(caller, taskId, id) {
      await requireTask(caller, taskId);
      await command(caller, taskId, { type: 'DeletePushConfig', id, at: now() });
    },
  };
};
