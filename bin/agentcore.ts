#!/usr/bin/env -S node --import tsx
import { createRuntime } from '../infra/compose.ts';
/**
 * agentcore [all | edge sagas workers projections relay ...]
 * No DATABASE_URL/NATS_URL: the embedded hub in one process. With them: the chosen roles of the
 * distributed runtime; run as many copies of each as you like.
 */
import { loadConfig, parseRoles } from '../infra/config.ts';

const main = async () => {
  const config = loadConfig();
  const roles = parseRoles(process.argv.slice(2));
  const runtime = await createRuntime(config);
  const { log } = runtime;
  const started = await runtime.start(roles);
  log.info(
    { roles, mode: config.mode, dataDir: config.mode === 'embedded' ? config.dataDir : undefined },
    'started',
  );
  if (started.url) {
    process.stdout.write(
      `AgentCore ${config.mode} hub listening on ${started.url} (roles: ${roles.join(', ')})\n`,
    );
  }
  if (started.devApiKey) {
    process.stdout.write(
      `First start: development API key for tenant "default" (shown once): ${started.devApiKey}\n`,
    );
  }
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'draining in-flight work');
    const force = setTimeout(() => {
      log.error('shutdown took longer than 30s; exiting');
      process.exit(1);
    }, 30_000);
    force.unref();
    await runtime.stop();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
};

main().catch((error) => {
  process.stderr.write(`agentcore: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
