import { SyncError } from '../../activities/errors';
import { readSettings, getSetting, setSetting } from '../../activities/settings/store';
import { parseArgs, expectPositionals } from '../args';
import { ok, table } from '../output';
import type { Command } from '../context';

const usage = `moodle-sync config show
       moodle-sync config get <key>
       moodle-sync config set <key> <value>`;

export const configCommand: Command = {
  name: 'config',
  summary: 'Show, read and change the tool settings (Moodle config_plugins, plugin tool_sync).',
  usage,
  async run(argv, ctx) {
    const args = parseArgs(argv);
    const [sub, ...rest] = args.positional;
    const db = ctx.db();
    switch (sub) {
      case 'show': {
        expectPositionals({ ...args, positional: rest }, 0, 0, usage);
        const settings = await readSettings(db);
        return ok(settings, table(['section', 'key', 'value', 'accepts'], settings.map((s) => [s.section, s.key, `${s.value}${s.isDefault ? ' (default)' : ''}`, s.accepts])));
      }
      case 'get': {
        expectPositionals({ ...args, positional: rest }, 1, 1, usage);
        const s = await getSetting(db, rest[0]);
        return ok(s, s.value);
      }
      case 'set': {
        expectPositionals({ ...args, positional: rest }, 2, 2, usage);
        const value = await setSetting(db, rest[0], rest[1]);
        return ok({ key: rest[0], value }, `${rest[0]} = ${value}`);
      }
      default:
        throw new SyncError('usage', `config needs one of: show, get, set.\nUsage: ${usage}`);
    }
  },
};
