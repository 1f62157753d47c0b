/** A minimal SSE reader for tests: yields {id, data} per event from a fetch Response. */
export interface SseEvent {
  id?: string;
  data: unknown;
}

export async function* readSse(response: Response): AsyncGenerator<SseEvent> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let id: string | undefined;
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('id:')) id = line.slice(3).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (data.length) yield { id, data: JSON.parse(data.join('\n')) };
      }
    }
  } finally {
    reader.releaseLock();
    await response.body?.cancel().catch(() => {});
  }
}

/** A JSON-RPC call to a hub, A2A v1.0. */
export const rpc = (
  url: string,
  apiKey: string,
  method: string,
  params: unknown,
  extra: Record<string, string> = {},
) =>
  fetch(`${url}/a2a/jsonrpc`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'A2A-Version': '1.0', 'X-API-Key': apiKey, ...extra },
    body: JSON.stringify({ jsonrpc: '2.0', id: Math.floor(Math.random() * 1e9), method, params }),
  });
