/**
 * The process the webhook crash test kills: a hub's sagas role on the distributed runtime (its webhook
 * delivery saga delivers the test's subscription). It runs until killed, or stops on SIGTERM.
 */
import pino from 'pino';
import { createRuntime } from '../../app/compose.ts';
import { loadConfig } from '../../app/config.ts';

const main = async () => {
  const runtime = await createRuntime(loadConfig(), { log: pino({ level: 'warn' }) });
  await runtime.start(['sagas']);
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => {
    void runtime.stop().then(() => process.exit(0));
  });
};

if (process.argv[1]?.endsWith('webhook-crash-child.ts')) {
  main().catch((error) => {
    process.stderr.write(
      `webhook crash child failed: ${error instanceof Error ? error.stack : String(error)}\n`,
    );
    process.exit(1);
  });
}
