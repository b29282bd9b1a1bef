// The worker's workflowsPath: every workflow type, and nothing that is not workflow-safe.
export { reintegrate } from './reintegrate';
export { staleLockWatchdog } from './watchdog';
export { processFile } from './processFile';
export { runTool } from './runTool';
export { syncAll } from './syncAll';
export { storeCleanup } from './storeCleanup';
