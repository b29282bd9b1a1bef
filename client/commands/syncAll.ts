import { parseArgs, expectPositionals } from '../args';
import type { Command } from '../context';
import { searchAttributes } from '../../workflows/shared';
import { toolRunText } from '../runText';
import type { syncAll } from '../../workflows';

const usage = 'moodle-sync sync-all [--simulate] [--wait] [--json]';

export const syncAllCommand: Command = {
  name: 'sync-all',
  summary: 'Run every tool in dependency order (courses, users, pictures, cohorts, enrolments, groups).',
  usage,
  async run(argv, ctx) {
    const args = parseArgs(argv, { switches: ['simulate', 'wait'] });
    expectPositionals(args, 0, 0, usage);
    const client = await ctx.temporal();
    const workflowId = `sync-all-${new Date().toISOString().replace(/[:.]/g, '')}`;
    const handle = await client.workflow.start<typeof syncAll>('syncAll', {
      workflowId, taskQueue: ctx.env.taskQueue, args: [{ simulate: args.flags.simulate === true }],
      staticSummary: `sync-all${args.flags.simulate ? ' (simulation)' : ''}`,
      typedSearchAttributes: [{ key: searchAttributes.operation, value: 'sync-all' }],
    });
    if (!args.flags.wait) return { code: 0, data: { status: 'started', workflowId }, text: `started ${workflowId}` };
    const summary = await handle.result();
    const text = [`sync all: ${summary.status}${summary.simulate ? ' (simulation)' : ''}`, ...summary.runs.map(toolRunText)].join('\n');
    return { code: summary.status === 'failed' ? 1 : 0, data: { workflowId, ...summary }, text };
  },
};
