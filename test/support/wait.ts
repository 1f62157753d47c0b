/** Polls `f` until it returns something truthy, and returns that; fails with `what` after `timeoutMs`. */
export const waitFor = async <T>(
  what: string,
  f: () => Promise<T | undefined | false | null>,
  timeoutMs = 20_000,
): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};
