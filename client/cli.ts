import { loadEnv } from '../activities/env';
import { isSyncError } from '../activities/errors';
import { explainDbError } from '../activities/moodle/db';
import { CommandContext, type Command } from './context';
import { filesCommand } from './commands/files';
import { configCommand } from './commands/config';
import { reintegrateCommand } from './commands/reintegrate';
import { scheduleCommand } from './commands/schedule';
import { overviewCommand } from './commands/overview';
import { workerCommand } from './commands/worker';
import { runCommand } from './commands/run';
import { syncAllCommand } from './commands/syncAll';
import { runsCommand } from './commands/runs';
import { reportsCommand } from './commands/reports';

/** Mistakes in the command line itself: exit code 2. */
const USAGE_CODES = new Set(['usage', 'config.unknown-key', 'config.bad-value']);

const commands: Command[] = [overviewCommand, runCommand, syncAllCommand, reintegrateCommand, filesCommand, configCommand, runsCommand, reportsCommand, scheduleCommand, workerCommand];

function help(): string {
  return [
    'moodle-sync: keeps Moodle in step with CSV command files, as Temporal workflows.',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`),
    '',
    'Every command takes --json for scripts and --help for its usage.',
    'Exit codes: 0 success, 1 failure, 2 usage error.',
    '',
    'Environment: MOODLE_DB_URL, MOODLE_DB_PREFIX, MOODLEDATA, SYNC_STORE, TEMPORAL_ADDRESS,',
    'TEMPORAL_NAMESPACE, TEMPORAL_TASK_QUEUE, SMTP_URL (see README.md).',
  ].join('\n');
}

/** Runs one CLI invocation and returns its exit code (0 ok, 1 failure, 2 usage). */
export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const json = argv.includes('--json');
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    out.write(`${help()}\n`);
    return name ? 0 : 2;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    return fail(2, 'usage', `Unknown command "${name}". Commands: ${commands.map((c) => c.name).join(', ')}. Try moodle-sync --help.`);
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    out.write(`${command.summary}\nUsage: ${command.usage}\n`);
    return 0;
  }
  let ctx: CommandContext | undefined;
  try {
    ctx = new CommandContext(loadEnv(), { out, err });
    const result = await command.run(rest, ctx);
    out.write(json ? `${JSON.stringify(result.data, null, 2)}\n` : `${result.text}\n`);
    return result.code;
  } catch (e) {
    const known = isSyncError(e) ? e : explainDbError(e);
    if (known) return fail(USAGE_CODES.has(known.code) ? 2 : 1, known.code, known.message);
    return fail(1, 'error', (e as Error).message ?? String(e));
  } finally {
    await ctx?.close().catch(() => undefined);
  }

  function fail(code: number, errorCode: string, message: string): number {
    if (json) out.write(`${JSON.stringify({ error: { code: errorCode, message } }, null, 2)}\n`);
    err.write(`moodle-sync: ${message}\n`);
    return code;
  }
}
