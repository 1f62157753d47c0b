/**
 * `agentcore audit verify [--tenant T]`: asks a running hub to check its audit hash chain
 * (GET /api/audit/verify) and prints ok, or the first entry whose chain breaks; exit code 1 when broken.
 */
import { parseArgs } from 'node:util';
import { HUB_OPTIONS, hubClient } from './hub-client.ts';

export const AUDIT_USAGE = `usage: agentcore audit verify [options]
  verify    check the tenant's audit hash chain; prints the first broken entry (exit code 1) or ok
options: --hub URL (default $AGENTCORE_HUB_URL or http://127.0.0.1:7700), --key KEY (default $AGENTCORE_API_KEY),
         --tenant T (another tenant the key may act for), --json (print the API's JSON)`;

export class AuditUsageError extends Error {}

interface ChainReport {
  tenant: string;
  ok: boolean;
  entries: number;
  broken?: { id: string; seq: number; reason: string };
}

export const auditCommand = async (argv: string[]): Promise<number> => {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...HUB_OPTIONS,
    },
  });
  const [command] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${AUDIT_USAGE}\n`);
    return values.help ? 0 : 2;
  }
  if (command !== 'verify') throw new AuditUsageError(`unknown audit command "${command}"`);
  const call = hubClient(values, (m) => new AuditUsageError(m));
  const report = (await call('GET', '/api/audit/verify')) as unknown as ChainReport;
  const human = report.ok
    ? `ok: the audit chain of tenant ${report.tenant} holds (${report.entries} entries)`
    : `BROKEN: tenant ${report.tenant}, entry seq ${report.broken!.seq} (id ${report.broken!.id}): ${report.broken!.reason} (${report.entries} entries before it hold)`;
  process.stdout.write(`${values.json ? JSON.stringify(report, null, 2) : human}\n`);
  return report.ok ? 0 : 1;
};
