/** NATS server URLs as configured (`NATS_URL`), turned into nats.js connect options. */

export interface NatsConnectTarget {
  servers: string[];
  user?: string;
  pass?: string;
  token?: string;
}

/**
 * Splits a comma-separated list of NATS URLs and lifts their credentials into options: nats.js v3 ignores a
 * URL's userinfo, so `nats://hub:secret@host:4222` would otherwise connect without them and be refused by a
 * server that has users. `user:pass@` gives a user and password, a lone `token@` a token; every URL of the
 * list must carry the same ones (one connection has one identity).
 *
 * @example
 * natsConnectTarget('nats://hub:pw@10.0.0.1:4222,nats://hub:pw@10.0.0.2:4222')
 * // → { servers: ['nats://10.0.0.1:4222', 'nats://10.0.0.2:4222'], user: 'hub', pass: 'pw' }
 */
export const natsConnectTarget = (urls: string | string[]): NatsConnectTarget => {
  const list = (Array.isArray(urls) ? urls : urls.split(',')).map((u) => u.trim()).filter(Boolean);
  const target: NatsConnectTarget = { servers: [] };
  let identity: string | undefined;
  for (const raw of list) {
    const withScheme = /^[a-z]+:\/\//i.test(raw) ? raw : `nats://${raw}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      target.servers.push(raw); // let nats.js report what it cannot parse
      continue;
    }
    const user = decodeURIComponent(url.username);
    const pass = decodeURIComponent(url.password);
    const seen = `${user}\0${pass}`;
    if (identity !== undefined && seen !== identity)
      throw new Error('NATS_URL: every server URL must carry the same credentials');
    identity = seen;
    if (user && pass) Object.assign(target, { user, pass });
    else if (user) target.token = user;
    url.username = '';
    url.password = '';
    target.servers.push(`${url.protocol}//${url.host}`);
  }
  return target;
};
