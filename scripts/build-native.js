#!/usr/bin/env node
// npm's "prepare" step: builds native/sha512crypt (crypt_r for Moodle password hashes) with the
// node-gyp that npm ships, against the installed Node headers. A failed build is a warning:
// passwords are then hashed by the slower TypeScript fallback.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const dir = path.join(__dirname, '..', 'native', 'sha512crypt');
const candidates = [
  process.env.npm_config_node_gyp,
  path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].filter(Boolean);
const gyp = candidates.find((p) => fs.existsSync(p));
// Headers installed with Node (no download): <prefix>/include/node.
const prefix = path.join(path.dirname(process.execPath), '..');
const args = [gyp, 'rebuild', '--loglevel=warn'];
if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
try {
  if (!gyp) throw new Error('node-gyp not found');
  execFileSync(process.execPath, args, { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  console.log('native sha512crypt: built');
} catch (e) {
  console.warn(`native sha512crypt: not built (${e.message}); passwords use the TypeScript fallback`);
}
