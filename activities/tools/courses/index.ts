import type { Tool } from '../types';
import { createOperation } from './create';
import { deleteCourses } from './delete';
import { checkCourses } from './check';
import { courseMetas } from './metas';

/**
 * The courses tool (reference 5.1): create/update, delete, check, meta links. Sync all runs
 * delete, then create/update, then metas (spec decision 19), as the original's course task did.
 */
export const coursesTool: Tool = {
  name: 'courses',
  defaultOp: 'create',
  syncAll: ['delete', 'create', 'metas'],
  operations: [createOperation, deleteCourses, checkCourses, courseMetas],
};
