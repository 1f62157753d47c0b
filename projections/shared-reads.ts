/**
 * One read of the log for several projections: the runner's projections that may lag (metrics, lineage,
 * audit) follow the log at about the same place, and each reading it with its own filter read most events
 * three times (on PGlite, on the thread the hot path's appends wait for). Here a miss reads an unfiltered
 * page, and the projections take their filtered share of it.
 *
 * What a projection is given is what store.readAll would give it, or a shorter prefix of it: the events
 * after `after` that pass its filter, in log order, up to the end of a page that was complete when read.
 */
import type { RecordedEvent } from '../events/envelope.ts';
import { type EventStore, matchesFilter, type ReadAllOptions } from '../infra/event-store/port.ts';

/** An unfiltered run of the log: every event after `after` up to `last`, none missing. */
interface Page {
  after: number;
  last: number;
  events: RecordedEvent[];
}

export type ReadAll = (options: ReadAllOptions) => Promise<RecordedEvent[]>;

/** A readAll for projections that share pages (`pageSize` events each; the last two pages are kept). */
export const sharedReads = (store: EventStore, pageSize = 2000): ReadAll => {
  let pages: Page[] = [];
  let reading: Promise<void> = Promise.resolve();
  const covering = (after: number) => pages.find((p) => after >= p.after && after < p.last);
  const serve = (page: Page, options: ReadAllOptions) => {
    const out: RecordedEvent[] = [];
    const max = options.maxCount ?? Number.POSITIVE_INFINITY;
    for (const e of page.events) {
      if (out.length >= max) break;
      if (e.position > (options.after ?? 0) && matchesFilter(options.filter, e)) out.push(e);
    }
    return out;
  };
  const read: ReadAll = async (options) => {
    // Filters on tenant or correlation are a subscriber's, not a projection's: read those directly.
    if (options.filter?.tenant !== undefined || options.filter?.correlationId !== undefined)
      return store.readAll(options);
    const after = options.after ?? 0;
    let page = covering(after);
    if (!page) {
      // One miss reads at a time; a loop that waited finds the page the other read.
      const turn = reading.then(async () => {
        if (covering(after)) return;
        const events = await store.readAll({ after, maxCount: pageSize });
        if (events.length === 0) return;
        pages = [{ after, last: events[events.length - 1]!.position, events }, ...pages].slice(0, 2);
      });
      reading = turn.catch(() => {});
      await turn;
      page = covering(after);
      if (!page) return [];
    }
    const served = serve(page, options);
    // Nothing of this projection's in the page: its answer is what comes after the page.
    return served.length > 0 ? served : read({ ...options, after: page.last });
  };
  return read;
};
