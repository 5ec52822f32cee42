// The extension in a multi-root workspace: images in the second root folder are added from the
// explorer, and a prediction works on an image of the first root.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { blobImages, stripedImages, tempDir } from '../helpers/engine';
import {
  contextMenuToPicker,
  hostVsix,
  installExtension,
  notification,
  openVsCode,
  pick,
  screenshotOnFailure,
  waitForCommand,
  type VsCode,
} from './code-server';

const ARTIFACTS = path.resolve(__dirname, '../../test-artifacts/e2e');

describe('Tagsmith in a multi-root workspace', { timeout: 300_000 }, () => {
  let root: string;
  let vscode: VsCode;

  before(async () => {
    root = await tempDir('tagsmith-e2e-multi-');
    const first = path.join(root, 'first-root');
    const second = path.join(root, 'second-root');
    await fs.mkdir(path.join(second, 'stripes'), { recursive: true });
    await fs.mkdir(path.join(second, 'blobs'), { recursive: true });
    await fs.mkdir(first, { recursive: true });
    for (const [i, b] of (await stripedImages(4)).entries()) await fs.writeFile(path.join(second, 'stripes', `s${i}.jpg`), b);
    for (const [i, b] of (await blobImages(4)).entries()) await fs.writeFile(path.join(second, 'blobs', `b${i}.jpg`), b);
    await fs.writeFile(path.join(first, 'question.jpg'), (await stripedImages(1, 70))[0]);
    const workspaceFile = path.join(root, 'two-roots.code-workspace');
    await fs.writeFile(workspaceFile, JSON.stringify({ folders: [{ path: 'first-root' }, { path: 'second-root' }] }));
    installExtension(hostVsix(), path.join(root, 'user'), path.join(root, 'extensions'));
    vscode = await openVsCode(workspaceFile, root);
    await waitForCommand(vscode.page, 'Tagsmith: Train Tag');
  });
  screenshotOnFailure(() => vscode?.page, ARTIFACTS);
  after(async () => {
    await vscode?.close();
    await fs.rm(root, { recursive: true, force: true });
  });

  it('adds folders of the second root and predicts an image of the first', async () => {
    const { page } = vscode;
    // Both roots are listed; open the second one's folders.
    await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'second-root' }).first().waitFor();
    await contextMenuToPicker(page, 'stripes', 'Add as Positive Sample');
    await pick(page, 'New tag');
    await page.locator('.quick-input-widget .quick-input-box input').fill('stripes');
    await page.keyboard.press('Enter');
    assert.match(await notification(page, /added as positive/), /4 added as positive of "stripes"/);
    await contextMenuToPicker(page, 'blobs', 'Add as Negative Sample');
    await pick(page, 'stripes');
    assert.match(await notification(page, /added as negative/), /4 added as negative of "stripes"/);
    await page.locator('.statusbar-item', { hasText: 'Tagsmith: 1 tag' }).waitFor();
    await contextMenuToPicker(page, 'question.jpg', 'Predict Tags');
    // Not trained yet: the prediction still answers, with the base scores.
    const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: /aesthetic/ }).first();
    await row.waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'multi-root.png') });
    await page.keyboard.press('Escape');
  });
});
