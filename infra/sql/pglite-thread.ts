/**
 * PGlite in a worker thread of its own, behind the same `EmbeddedPostgres` surface as PGlite itself.
 *
 * Why: a PGlite query runs synchronously in WASM, so in process every statement blocks the event loop that
 * also serves HTTP, the bus and the sagas. One tenant's 100 KB tasks or 1 MiB ListTasks page held it for
 * 100-450 ms at a time (bench/RESULTS.md, isolation), and every other tenant's answers waited. In a thread
 * the database works beside the loop, on the other core; the loop only copies rows in and out.
 *
 * The protocol (pglite-thread-worker.ts) is one request per call with an id; a transaction is opened in the
 * thread, its statements name it, and it ends with commit or rollback, exactly as `db.transaction` would.
 * Errors come back with their fields (`code`, `detail`, `constraint`...), so callers see what PGlite threw.
 */
import { Worker } from 'node:worker_threads';
import type { EmbeddedPostgres } from './pglite.ts';
import type { ThreadReply, ThreadRequest, WireError } from './pglite-thread-worker.ts';

export interface PgliteThreadOptions {
  /** The data directory (absent: in memory). */
  dataDir?: string;
  /** Load pglite-pgvector (default true). */
  vector?: boolean;
}

type Outgoing = ThreadRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

const revive = (wire: WireError): Error => Object.assign(new Error(wire.message), wire);

/**
 * The thread runs the worker module from source when the hub itself runs from source (tsx), which a worker
 * does not inherit: it registers tsx's loader first.
 */
const spawnThread = (options: PgliteThreadOptions): Worker => {
  const entry = new URL(
    import.meta.url.endsWith('.ts') ? './pglite-thread-worker.ts' : './pglite-thread-worker.js',
    import.meta.url,
  );
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, { workerData: options });
  const tsx = import.meta.resolve('tsx/esm/api');
  const source = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(source, { eval: true, workerData: options });
};

/** Starts PGlite in a worker thread; resolves once the database is open (its migrations are the caller's). */
export const startPgliteThread = async (options: PgliteThreadOptions = {}): Promise<EmbeddedPostgres> => {
  const worker = spawnThread({ vector: true, ...options });
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  const listeners = new Map<number, (payload: string) => void>();
  let nextId = 1;
  let ended: Error | null = null;

  const endAll = (error: Error) => {
    ended ??= error;
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
  };
  worker.on('message', (reply: ThreadReply) => {
    if ('notify' in reply) return listeners.get(reply.notify)?.(reply.payload);
    const call = pending.get(reply.id);
    pending.delete(reply.id);
    if ('error' in reply) call?.reject(revive(reply.error));
    else call?.resolve(reply.result);
  });
  worker.on('error', (error) => endAll(new Error(`the PGlite thread failed: ${error.message}`)));
  worker.on('exit', (code) => endAll(new Error(`the PGlite thread has stopped (exit code ${code})`)));

  const call = <Result>(request: Outgoing): Promise<Result> =>
    new Promise<Result>((resolve, reject) => {
      if (ended) return reject(ended);
      const id = nextId++;
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      worker.postMessage({ ...request, id });
    });
  const queries = (tx?: number) => ({
    query: <Row>(text: string, params: unknown[] = []) =>
      call<{ rows: Row[] }>({ op: 'query', text, params, ...(tx === undefined ? {} : { tx }) }),
  });

  try {
    await call({ op: 'open' });
  } catch (error) {
    await worker.terminate();
    throw error;
  }
  return {
    ...queries(),
    exec: (script) => call({ op: 'exec', script }),
    transaction: async (fn) => {
      const tx = await call<number>({ op: 'begin' });
      let result: Awaited<ReturnType<typeof fn>>;
      try {
        result = await fn(queries(tx));
      } catch (error) {
        await call({ op: 'rollback', tx }).catch(() => {});
        throw error;
      }
      await call({ op: 'commit', tx });
      return result;
    },
    listen: async (channel, onNotify) => {
      const listener = nextId++;
      listeners.set(listener, onNotify);
      await call({ op: 'listen', channel, listener });
      return async () => {
        listeners.delete(listener);
        if (!ended) await call({ op: 'unlisten', listener });
      };
    },
    close: async () => {
      if (ended) return;
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      await call({ op: 'close' });
      await exited;
    },
    get closed() {
      return ended !== null;
    },
  };
};
