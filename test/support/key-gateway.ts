/**
 * A gateway in front of a hub that adds an API key to every request (as an API gateway would): another hub
 * can then call this one as a remote A2A agent, which sends no credentials of its own. Start it first (the
 * hub's AGENTCORE_PUBLIC_URL is its URL, so the card points here), then `forwardTo` the hub.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface KeyGateway {
  url: string;
  forwardTo(target: string, apiKey: string): void;
  stop(): Promise<void>;
}

export const startKeyGateway = async (): Promise<KeyGateway> => {
  let target = '';
  let key = '';
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', target);
    const forwarded = http.request(
      url,
      { method: req.method, headers: { ...req.headers, host: url.host, 'x-api-key': key } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forwarded.on('error', () => res.destroy());
    req.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    forwardTo(t, k) {
      target = t;
      key = k;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};
