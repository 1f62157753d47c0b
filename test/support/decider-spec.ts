import * as assert from 'uvu/assert';
import { CommandError, type CommandErrorKind } from '../../commands/errors.ts';
import type { Decider, DomainEvent } from '../../commands/handle.ts';

/** given(events).when(command).thenEvents(events) for a pure decider: no I/O, nothing but the decider. */
export const deciderSpec =
  <C, S, E extends DomainEvent>(decider: Decider<C, S, E>) =>
  (given: E[]) => ({
    when: (command: C) => {
      const run = () => decider.decide(command, given.reduce(decider.evolve, decider.initialState()));
      return {
        thenEvents: (expected: E[]) => assert.equal(run(), expected),
        thenFails: (kind: CommandErrorKind, message?: RegExp) => {
          try {
            run();
          } catch (error) {
            assert.instance(error, CommandError);
            assert.is((error as CommandError).kind, kind);
            if (message) assert.match((error as CommandError).message, message);
            return;
          }
          assert.unreachable(`expected a ${kind} error`);
        },
      };
    },
  });
