/**
 * The Temporal Web UI as an operator uses it: the dev server's UI, driven in headless Chromium
 * (Debian's `chromium`, through playwright-core), finds a finished run by the Tool search
 * attribute, opens the file's child workflow (named after the file) and reads its result and
 * its memo (the input file and the sha256 of the content that ran).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { chromium, type Browser, type Page } from 'playwright-core';
import { openSandbox, runToolFile, type Sandbox } from './support/sandbox';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CONTENT = 'username;firstname;lastname;email;oldusername\nwu1;Web;One;wu1@example.org;\nwu2;Web;Two;wu2@example.org;nobody-here\n';

/** The JSON shown in one of the UI's code panels: the first "<title>" line followed by a JSON object (fold marks aside). */
function panelJson(text: string, title: string): any {
  const lines = text.split('\n').filter((l) => l.trim() !== '⌄');
  for (let i = lines.indexOf(title); i >= 0; i = lines.indexOf(title, i + 1)) {
    if (lines[i + 1] !== '{') continue;
    const end = lines.indexOf('}', i + 1);
    return JSON.parse(lines.slice(i + 1, end + 1).join('\n'));
  }
  assert.fail(`no "${title}" panel with JSON in:\n${text.slice(0, 3000)}`);
}

describe('Temporal Web UI', () => {
  let sb: Sandbox;
  let browser: Browser;
  let page: Page;

  before(async () => {
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium`);
    sb = await openSandbox('webui', { ui: true });
    for (const [k, v] of [['storereport', '1'], ['filefailed', '1'], ['users_primaryidentity', 'username'], ['users_createpasswords', '0'], ['users_allowrename', '1']]) {
      assert.equal((await sb.cli(['config', 'set', k, v])).code, 0);
    }
    await sb.startWorker();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1400, height: 1200 } });
  });
  after(async () => {
    await browser?.close();
    await sb?.close();
  });

  it('finds a finished run by its Tool search attribute and reads its result and memo', async () => {
    const run = await runToolFile(sb, 'users', 'webui-users.csv', CONTENT);
    assert.equal(run.rows.failed, 1);
    const childId = `${run.workflowId}/webui-users.csv`;

    // The workflow list, filtered by the search attribute as an operator types it.
    const list = `${sb.uiUrl}/namespaces/default/workflows?query=${encodeURIComponent('Tool="users"')}`;
    const childLink = page.locator(`a[href*="/workflows/${encodeURIComponent(childId)}/"]`).first();
    for (let i = 0; ; i++) {
      await page.goto(list, { waitUntil: 'networkidle' });
      if (await childLink.count()) break;
      assert.ok(i < 30, `the file's run never showed in the list:\n${(await page.innerText('body')).slice(0, 3000)}`);
      await page.waitForTimeout(1000); // visibility catches up
    }
    const listed = await page.innerText('body');
    assert.match(listed, new RegExp(`${run.workflowId.replace(/[.]/g, '\\.')}\\s+\\S+\\s+runTool`), 'the tool run is listed');
    assert.ok(listed.includes(childId), 'the file run is listed under an id that names the file');

    await childLink.click();
    await page.getByText('Result', { exact: true }).first().waitFor();
    await page.getByText('"outcome"').first().waitFor();
    const detail = await page.innerText('main');
    assert.match(detail, /COMPLETED/);
    assert.match(detail, /processFile/);
    const result = panelJson(detail, 'Result');
    assert.deepEqual(result, run.files[0], 'the UI shows the summary the CLI printed');
    assert.equal(result.outcome, 'completed-with-failures');
    assert.deepEqual(result.rows, { total: 2, applied: 1, failed: 1, skipped: 0 });
    assert.deepEqual(panelJson(detail, 'Input'), { tool: 'users', op: 'add', file: 'webui-users.csv', simulate: false });

    await page.getByText('Memo', { exact: true }).first().click();
    await page.getByText('"sha256"').first().waitFor();
    const memo = panelJson(await page.innerText('main'), 'Memo').fields;
    assert.equal(memo.inputFile, 'webui-users.csv');
    assert.equal(memo.sha256, createHash('sha256').update(CONTENT).digest('hex'));
    assert.equal(memo.result, 'webui-users.csv: 2 row(s), 1 applied, 1 failed, 0 skipped');
    assert.equal(memo.report, run.files[0].report);
    assert.equal(memo.tryback, run.files[0].tryback);

    await page.getByText('Search Attributes', { exact: true }).first().click();
    await page.getByText('"Outcome"').first().waitFor();
    const attrs = panelJson(await page.innerText('main'), 'Search Attributes');
    assert.deepEqual([attrs.Tool, attrs.Operation, attrs.InputFile, attrs.Outcome], ['users', 'add', 'webui-users.csv', 'completed-with-failures']);
  });
});
