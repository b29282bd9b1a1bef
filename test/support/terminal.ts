/** Runs the moodle-sync CLI under a pseudo-terminal (util-linux `script`), as an operator's shell would. */
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { projectRoot } from '../../activities/env';

const CLI = path.join(projectRoot, 'bin', 'moodle-sync.js');
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Everything the terminal showed (stdout and stderr together, with carriage returns and escapes), and the exit code. */
export function runInTerminal(args: string[], env: NodeJS.ProcessEnv, columns = 140): Promise<{ code: number; output: string }> {
  const command = `stty cols ${columns} rows 40; ${[process.execPath, CLI, ...args].map(quote).join(' ')}`;
  return new Promise((resolve, reject) => {
    // -q quiet, -f flush at once, -e the command's exit code, -c the command; the typescript file is thrown away.
    const proc = spawn('script', ['-qfec', command, '/dev/null'], { env: { ...env, TERM: 'xterm' }, cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    proc.stdout.on('data', (d) => (output += d));
    proc.stderr.on('data', (d) => (output += d));
    proc.on('error', reject);
    proc.on('close', (code) => resolve({ code: code ?? -1, output }));
  });
}
