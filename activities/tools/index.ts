import { SyncError } from '../errors';
import type { Tool, ToolOperation } from './types';
import { coursesTool } from './courses';
import { usersTool } from './users';
import { enrolsTool } from './enrols';
import { groupsTool } from './groups';
import { userPicturesTool } from './userpictures';
import { cohortsTool } from './cohorts';

/** Every tool, in the order "sync all" runs them (spec decision 19: courses, users, user pictures, cohorts, enrolments, groups). */
export const tools: Tool[] = [coursesTool, usersTool, userPicturesTool, cohortsTool, enrolsTool, groupsTool];

export function findTool(name: string): Tool {
  const tool = tools.find((t) => t.name === name);
  if (!tool) throw new SyncError('usage', `Unknown tool "${name}". Tools: ${tools.map((t) => t.name).join(', ')}.`);
  return tool;
}

export function findOperation(toolName: string, op?: string): ToolOperation {
  const tool = findTool(toolName);
  const name = op ?? tool.defaultOp;
  const operation = tool.operations.find((o) => o.op === name);
  if (!operation) throw new SyncError('usage', `Tool ${tool.name} has no operation "${name}". Operations: ${tool.operations.map((o) => o.op).join(', ')}.`);
  return operation;
}

/** Every (tool, operation) "sync all" runs, in dependency order. */
export const syncAllPlan = (): { tool: string; op: string }[] => tools.flatMap((t) => t.syncAll.map((op) => ({ tool: t.name, op })));
