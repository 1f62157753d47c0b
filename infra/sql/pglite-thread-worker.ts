/** The worker-thread side of infra/sql/pglite-thread.ts: one PGlite, serving the requests the hub posts. */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { type Extensions, PGlite, type Transaction } from '@electric-sql/pglite';

export type ThreadRequest =
  | { id: number; op: 'open' }
  | { id: number; op: 'query'; text: string; params: unknown[]; tx?: number }
  | { id: number; op: 'exec'; script: string }
  | { id: number; op: 'begin' }
  | { id: number; op: 'commit' | 'rollback'; tx: number }
  | { id: number; op: 'listen'; channel: string; listener: number }
  | { id: number; op: 'unlisten'; listener: number }
  | { id: number; op: 'close' };

/** An error's own fields (PGlite's DatabaseError carries code, detail, constraint...), as plain data. */
export type WireError = { name: string; message: string } & Record<string, unknown>;

export type ThreadReply =
  | { id: number; result: unknown }
  | { id: number; error: WireError }
  | { notify: number; payload: string };

interface OpenTransaction {
  tx: Transaction;
  commit: () => void;
  rollback: (reason: Error) => void;
  settled: Promise<unknown>;
}

const toWire = (error: unknown): WireError => {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) {
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) fields[key] = value;
  }
  return { ...fields, name: error.name, message: error.message };
};

const serve = (options: { dataDir?: string; vector?: boolean }) => {
  const port = parentPort!;
  let db: PGlite | null = null;
  const transactions = new Map<number, OpenTransaction>();
  const unlisten = new Map<number, () => Promise<void>>();
  let nextTx = 1;

  const open = async () => {
    const extensions: Extensions = options.vector
      ? { vector: (await import('@electric-sql/pglite-pgvector')).vector }
      : {};
    db = await PGlite.create(options.dataDir, { extensions });
  };
  const database = () => {
    if (!db) throw new Error('the PGlite thread has no open database');
    return db;
  };
  const begin = () =>
    new Promise<number>((opened, failed) => {
      const id = nextTx++;
      const entry = {} as OpenTransaction;
      entry.settled = database().transaction(
        (tx) =>
          new Promise<void>((commit, rollback) => {
            Object.assign(entry, { tx, commit, rollback });
            transactions.set(id, entry);
            opened(id);
          }),
      );
      entry.settled.catch(failed); // fails the begin only if the transaction never opened
    });
  const end = async (id: number, commit: boolean) => {
    const entry = transactions.get(id);
    if (!entry) throw new Error(`no open transaction ${id}`);
    transactions.delete(id);
    if (commit) {
      entry.commit();
      await entry.settled;
    } else {
      entry.rollback(new Error('rolled back'));
      await entry.settled.catch(() => {});
    }
  };

  const run = async (request: ThreadRequest): Promise<unknown> => {
    switch (request.op) {
      case 'open':
        return open();
      case 'query': {
        const target = request.tx === undefined ? database() : transactions.get(request.tx)?.tx;
        if (!target) throw new Error(`no open transaction ${request.tx}`);
        const { rows, affectedRows } = await target.query(request.text, request.params);
        return { rows, affectedRows };
      }
      case 'exec':
        await database().exec(request.script);
        return null;
      case 'begin':
        return begin();
      case 'commit':
        return end(request.tx, true);
      case 'rollback':
        return end(request.tx, false);
      case 'listen': {
        const stop = await database().listen(request.channel, (payload) =>
          port.postMessage({ notify: request.listener, payload } satisfies ThreadReply),
        );
        unlisten.set(request.listener, stop);
        return null;
      }
      case 'unlisten':
        await unlisten.get(request.listener)?.();
        unlisten.delete(request.listener);
        return null;
      case 'close':
        await db?.close();
        return null;
      default: {
        const unknown: never = request;
        throw new Error(`unknown request ${JSON.stringify(unknown)}`);
      }
    }
  };

  port.on('message', (request: ThreadRequest) => {
    run(request).then(
      (result) => {
        port.postMessage({ id: request.id, result: result ?? null } satisfies ThreadReply);
        if (request.op === 'close') port.close(); // the thread ends once its last reply is out
      },
      (error: unknown) => port.postMessage({ id: request.id, error: toWire(error) } satisfies ThreadReply),
    );
  });
};

if (!isMainThread && parentPort) serve(workerData as { dataDir?: string; vector?: boolean });
