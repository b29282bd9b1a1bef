#!/usr/bin/env node
// Runs the TypeScript CLI directly (tsx is a runtime dependency), so `npm ci` alone is enough.
// With MOODLE_SYNC_DIST=1 it runs the compiled `dist/` instead (`npm run build:dist`; the test
// runner builds it first): no transpiling at start, which the many short CLI calls of the tests feel.
const path = require('node:path');
const compiled = process.env.MOODLE_SYNC_DIST === '1';
if (!compiled) require('tsx/cjs');
require(compiled ? path.join(__dirname, '..', 'dist', 'client', 'cli.js') : '../client/cli.ts')
  .main(process.argv.slice(2))
  .then((code) => { process.exitCode = code; });
