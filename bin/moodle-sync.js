#!/usr/bin/env node
// Runs the TypeScript CLI directly (tsx is a runtime dependency), so `npm ci` alone is enough.
require('tsx/cjs');
require('../client/cli.ts')
  .main(process.argv.slice(2))
  .then((code) => { process.exitCode = code; });
