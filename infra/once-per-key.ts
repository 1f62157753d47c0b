/**
 * Runs the work for a key once at a time in this process, and not again once it has succeeded (the most
 * recent `remembered` keys are kept): a local fast path and the bus delivery of the same event share one
 * run. A run that fails is not remembered, so the next caller (the bus redelivery) runs it again.
 */
export const oncePerKey = (remembered = 50_000) => {
  const running = new Map<string, Promise<void>>();
  const done = new Set<string>();
  return {
    run(key: string, work: () => Promise<void>): Promise<void> {
      if (done.has(key)) return Promise.resolve();
      let p = running.get(key);
      if (!p) {
        p = work().then(() => {
          done.add(key);
          if (done.size > remembered) done.delete(done.values().next().value as string);
        });
        const settle = () => running.delete(key);
        p.then(settle, settle);
        running.set(key, p);
      }
      return p;
    },
    done: (key: string): boolean => done.has(key),
  };
};
