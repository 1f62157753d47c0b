/** The NATS permissions that let an integrator read one tenant's events, and nothing else, from JetStream. */
import { filterSubject } from './port.ts';

export interface TenantAccess {
  /** The hub's namespace (AGENTCORE_NAMESPACE, default `ac`). */
  namespace: string;
  tenant: string;
  /**
   * Durable consumer names the integrator may create and read (default `int_<tenant>`). NATS wildcards match
   * whole tokens only, so names are listed: an integrator never reaches the hub's own durables, which would
   * let it take (and acknowledge) other tenants' events.
   */
  consumers?: string[];
}

export interface NatsPermissions {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
}

/** The inbox prefix the integrator's client must use (`inboxPrefix` in nats.js): replies to it only. */
export const tenantInboxPrefix = (tenant: string) => `_INBOX_${tenant}`;

/**
 * Permissions for a nats-server `authorization.users[].permissions` block:
 * - subscribe: the tenant's subjects `<ns>.evt.<tenant>.>` (live, core NATS) and its own inbox, never
 *   `_INBOX.>`, where the hub's pull replies (other tenants' events) travel;
 * - publish: create its durables only with a filter inside its subjects (the server checks the filter in the
 *   subject `$JS.API.CONSUMER.CREATE.<stream>.<consumer>.<filter>`, NATS >= 2.9), then fetch, inspect, ack
 *   and delete those durables. No stream management, no publish on event subjects.
 *
 * @example
 * tenantNatsPermissions({ namespace: 'ac', tenant: 'acme' }).subscribe.allow
 * // → ['ac.evt.acme.>', '_INBOX_acme.>']
 */
export const tenantNatsPermissions = (access: TenantAccess): NatsPermissions => {
  const stream = `${access.namespace.toUpperCase()}_EVENTS`;
  const subjects = filterSubject(access.namespace, { tenant: access.tenant }).replace(/(\.\*)+$/, '.>');
  const consumers = access.consumers ?? [`int_${access.tenant}`];
  for (const c of consumers)
    if (!/^[A-Za-z0-9_-]+$/.test(c))
      throw new Error(`consumer name "${c}": letters, digits, "_" or "-" only`);
  return {
    publish: {
      allow: [
        '$JS.API.INFO',
        ...consumers.flatMap((c) => [
          `$JS.API.CONSUMER.CREATE.${stream}.${c}.${subjects}`,
          `$JS.API.CONSUMER.INFO.${stream}.${c}`,
          `$JS.API.CONSUMER.MSG.NEXT.${stream}.${c}`,
          `$JS.API.CONSUMER.DELETE.${stream}.${c}`,
          `$JS.ACK.${stream}.${c}.>`,
        ]),
      ],
    },
    subscribe: { allow: [subjects, `${tenantInboxPrefix(access.tenant)}.>`] },
  };
};
