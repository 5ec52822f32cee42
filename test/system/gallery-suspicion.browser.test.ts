// The gallery's suspicious samples, in Debian's Chromium over a real engine: a positive that is
// really a blob (and nearly the same picture as a negative) carries a badge saying why, sorts
// first on request, and one key moves it to the other side; "More like this" and "Review" open
// the review panel.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import sharp from 'sharp';
import { blobImages, stripedImages } from '../helpers/engine';
import { startTestServer, type TestServer } from '../helpers/server';
import { eventually } from '../helpers/wait';
import { startHarness, type Harness } from '../helpers/webview-harness';

const ARTIFACTS = path.resolve(__dirname, '../../test-artifacts/webviews');
const TAG = 'stripes';

describe('suspicious samples in the gallery', { timeout: 600_000 }, () => {
  const sessions: { server: TestServer; harness: Harness }[] = [];
  afterEach(async () => {
    for (const { server, harness } of sessions.splice(0)) {
      await harness.close();
      await server.close();
    }
  });

  it('flags a mislabelled sample, sorts it first, and moves it with one key', async () => {
    await fs.mkdir(ARTIFACTS, { recursive: true });
    const server = await startTestServer();
    const harness = await startHarness(server.client);
    sessions.push({ server, harness });
    const striped = await stripedImages(6);
    const blobs = await blobImages(7);
    for (const [i, bytes] of striped.entries()) await server.client.addSample('positive', TAG, bytes, `stripes-${i}.jpg`);
    for (const [i, bytes] of blobs.slice(0, 6).entries()) await server.client.addSample('negative', TAG, bytes, `blob-${i}.jpg`);
    // A blob labelled as a positive, and the same picture saved again as a negative.
    await server.client.addSample('positive', TAG, await sharp(blobs[2]).jpeg({ quality: 70 }).toBuffer(), 'wrong.jpg');
    await server.client.train(TAG);
    const listing = await server.client.samples(TAG, { order: 'suspicious' });
    const wrong = listing.positives.find((s) => s.fileName === 'wrong.jpg')!;
    assert.ok(wrong.suspicion, 'the engine flags it');
    assert.equal(listing.positives[0].id, wrong.id, 'most suspicious first');

    const gallery = await harness.openPanel('gallery', 'light');
    await gallery.locator(`.tag-item[data-tag="${TAG}"]`).click();
    const line = gallery.locator('.suspicion-line');
    await line.waitFor();
    assert.match(await line.innerText(), new RegExp(`⚠ ${listing.suspicious} samples? looks? mislabelled`));
    const flagged = gallery.locator(`.grid-section.positive .sample[data-sample-id="${wrong.id}"]`);
    await flagged.locator('.suspicion-badge').waitFor();
    assert.match((await flagged.getAttribute('title')) ?? '', /wrong\.jpg: .*(scored it 0\.\d\d|nearly the same picture as a negative)/);
    assert.equal(await gallery.locator('.grid-section.positive .sample').last().getAttribute('data-sample-id'), wrong.id, 'in the order added: last');

    await gallery.getByRole('button', { name: 'Most suspicious first' }).click();
    await gallery.waitForFunction((id) => document.querySelector('.grid-section.positive .sample')?.getAttribute('data-sample-id') === id, wrong.id);
    await gallery.screenshot({ path: path.join(ARTIFACTS, 'gallery-suspicious-light.png'), fullPage: true });

    // One key: M moves the focused sample to the other side.
    await gallery.locator('.grid-section.positive .sample').first().focus();
    await gallery.keyboard.press('m');
    await gallery.locator(`.grid-section.negative .sample[data-sample-id="${wrong.id}"]`).waitFor();
    assert.ok((await server.client.samples(TAG)).negatives.some((s) => s.id === wrong.id));

    // More like this and Review open the review panel.
    const moved = gallery.locator(`.grid-section.negative .sample[data-sample-id="${wrong.id}"]`);
    await moved.hover();
    await moved.getByRole('button', { name: 'More like wrong.jpg' }).click();
    await gallery.getByRole('button', { name: 'Review' }).click();
    await eventually(() => harness.opened.includes(`panel:review:${TAG}`), 'the review panel is asked for');
    assert.deepEqual(harness.opened, [`panel:review:${TAG}:similar:wrong.jpg`, `panel:review:${TAG}`]);
    assert.deepEqual(harness.problems, []);
  });
});
