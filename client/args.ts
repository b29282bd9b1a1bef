import { SyncError } from '../activities/errors';

export interface ParsedArgs {
  positional: string[];
  flags: Record<string, string | true>;
}

/**
 * Splits argv into positionals and --flags. `valued` names the flags that take a value
 * (`--cron "0 * * * *"` or `--cron=...`); any other flag is a switch. Unknown flags are refused.
 */
export function parseArgs(argv: string[], allowed: { switches?: string[]; valued?: string[] } = {}): ParsedArgs {
  const switches = new Set(['json', 'help', ...(allowed.switches ?? [])]);
  const valued = new Set(allowed.valued ?? []);
  const out: ParsedArgs = { positional: [], flags: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') { out.positional.push(...argv.slice(i + 1)); break; }
    if (a === '-h') { out.flags.help = true; continue; }
    if (!a.startsWith('--') || a === '--') { out.positional.push(a); continue; }
    const [name, inline] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (valued.has(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new SyncError('usage', `--${name} needs a value.`);
      out.flags[name] = value;
    } else if (switches.has(name) && inline === undefined) {
      out.flags[name] = true;
    } else {
      const known = [...switches, ...valued].map((f) => `--${f}`).join(', ');
      throw new SyncError('usage', `Unknown option --${name}. Options here: ${known}.`);
    }
  }
  return out;
}

export function expectPositionals(args: ParsedArgs, min: number, max: number, usage: string): void {
  if (args.positional.length < min || args.positional.length > max) {
    throw new SyncError('usage', `Wrong number of arguments. Usage: ${usage}`);
  }
}
