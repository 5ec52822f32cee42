// The gallery and the dashboard, built as shipped, in Debian's Chromium, answered by the
// extension's own request handler over a real engine. Asserts what a user sees and saves
// screenshots of both panels in light and dark themes to test-artifacts/webviews/. Each test
// has its own engine and harness page; the states they start from (a tag with samples,
// untrained or trained twice) are made once and restored into each.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { CLUSTER_CHOICES, isClusterCount } from '../../kernel/rules';
import { describeOutcome } from '../../kernel/training/describe-metrics';
import { blobImages, stripedImages } from '../helpers/engine';
import { needsKeywordsModel, peopleWithDogs } from '../helpers/keyword-photos';
import { startTestServer, type TestServer } from '../helpers/server';
import { startHarness, type Harness } from '../helpers/webview-harness';

const ARTIFACTS = path.resolve(__dirname, '../../test-artifacts/webviews');
const TAG = 'stripes';

const screenshot = (page: Page, name: string) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
const loadedThumbnails = (page: Page) =>
  page.evaluate(() => [...document.querySelectorAll<HTMLImageElement>('.sample img')].filter((i) => i.complete && i.naturalWidth > 0).length);
const heading = (page: Page, type: 'positive' | 'negative') => page.locator(`.grid-section.${type} h3`).textContent();

/** Pixels of a canvas whose colour leans to one channel: the bars and lines of a dataset. */
function colouredPixels(page: Page, selector: string, channel: 'red' | 'green' | 'blue'): Promise<number> {
  return page.evaluate(
    ({ selector, channel }) => {
      const canvas = document.querySelector<HTMLCanvasElement>(selector)!;
      const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      const index = { red: 0, green: 1, blue: 2 }[channel];
      let count = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] === 0) continue;
        const c = data[i + index];
        const others = [0, 1, 2].filter((k) => k !== index).map((k) => data[i + k]);
        if (others.every((o) => c > o + 40)) count++;
      }
      return count;
    },
    { selector, channel },
  );
}

describe('webviews in Chromium', { timeout: 600_000 }, () => {
  /** "stripes" with 8 positives and 8 negatives and "moody-film" with one positive: untrained, and trained twice (the second time with 2 clusters). */
  let untrained: Uint8Array;
  let trained: Uint8Array;
  before(async () => {
    await fs.mkdir(ARTIFACTS, { recursive: true });
    const maker = await startTestServer();
    try {
      await addSamples(maker);
      untrained = await maker.client.getState();
      await maker.client.train(TAG);
      await maker.client.train(TAG, { num_clusters: 2 });
      trained = await maker.client.getState();
    } finally {
      await maker.close();
    }
  });

  const sessions: { server: TestServer; harness: Harness }[] = [];
  afterEach(async () => {
    for (const { server, harness } of sessions.splice(0)) {
      await harness.close();
      await server.close();
    }
  });
  /** An engine of the test's own (with `state` restored into it) and a harness answering its panels. */
  async function session(state?: Uint8Array): Promise<{ server: TestServer; harness: Harness }> {
    const server = await startTestServer();
    try {
      if (state) await server.client.setState(state);
      const made = { server, harness: await startHarness(server.client) };
      sessions.push(made);
      return made;
    } catch (error) {
      await server.close();
      throw error;
    }
  }
  /** The gallery with the tag selected and every thumbnail drawn. */
  async function galleryOn(harness: Harness, tag: string, samples: number): Promise<Page> {
    const gallery = await harness.openPanel('gallery', 'light');
    await gallery.locator(`.tag-item[data-tag="${tag}"]`).click();
    await gallery.waitForFunction(
      (count) =>
        document.querySelectorAll('.sample img').length === count &&
        [...document.querySelectorAll<HTMLImageElement>('.sample img')].every((i) => i.complete && i.naturalWidth > 0),
      samples,
    );
    return gallery;
  }

  it('the gallery tells a new user what to do first', async () => {
    const { harness } = await session();
    const gallery = await harness.openPanel('gallery', 'light');
    await gallery.getByRole('heading', { name: 'Teach Tagsmith a new tag' }).waitFor();
    assert.match(await gallery.locator('.empty-state').innerText(), /Add as Positive Sample/);
    await screenshot(gallery, 'gallery-empty-light');
    assert.deepEqual(harness.problems, []);
  });

  it('shows tags and thumbnails as samples are added from outside the panel', async () => {
    const { server, harness } = await session();
    const gallery = await harness.openPanel('gallery', 'light');
    await gallery.getByRole('heading', { name: 'Teach Tagsmith a new tag' }).waitFor();
    await addSamples(server);

    await gallery.locator('.tag-item').nth(1).waitFor();
    assert.deepEqual(await gallery.locator('.tag-item .tag-name').allTextContents(), ['moody-film', TAG]);
    await gallery.locator(`.tag-item[data-tag="${TAG}"]`).click();
    await gallery.waitForFunction(
      () =>
        document.querySelectorAll('.sample img').length === 16 &&
        [...document.querySelectorAll<HTMLImageElement>('.sample img')].every((i) => i.complete && i.naturalWidth > 0),
    );
    assert.equal(await loadedThumbnails(gallery), 16);
    assert.equal(await heading(gallery, 'positive'), 'Positives (8)');
    assert.equal(await heading(gallery, 'negative'), 'Negatives (8)');
    assert.deepEqual(harness.problems, []);
  });

  it('offers the cluster choices the engine accepts', async () => {
    const { harness } = await session(untrained);
    const gallery = await galleryOn(harness, TAG, 16);
    const offered = await gallery
      .getByRole('group', { name: 'Training options' })
      .locator('vscode-option')
      .evaluateAll((options) => options.map((o) => o.getAttribute('value')));
    assert.deepEqual(offered, CLUSTER_CHOICES.map(String));
    assert.ok(offered.every((k) => isClusterCount(Number(k))));
  });

  it('trains from the Train button and shows the result in the tag list', async () => {
    const { server, harness } = await session(untrained);
    const gallery = await galleryOn(harness, TAG, 16);
    await gallery.getByRole('button', { name: 'Train', exact: true }).click();
    await gallery.locator(`.tag-item[data-tag="${TAG}"] .tag-status`, { hasText: 'F1' }).waitFor({ timeout: 120_000 });
    const tags = await server.client.tags();
    assert.equal(tags.find((t) => t.tag === TAG)?.trained, true);
    assert.match(await gallery.locator('.tag-summary').innerText(), /Trained .*F1 \d\.\d\d, ROC AUC \d\.\d\d/);
  });

  it('moves and removes samples (with undo) and the engine agrees', async () => {
    const { server, harness } = await session(trained);
    const gallery = await galleryOn(harness, TAG, 16);
    const first = gallery.locator('.grid-section.positive .sample').first();
    await first.hover();
    await first.getByRole('button', { name: /^Move .* to negatives$/ }).click();
    await gallery.waitForFunction(() => document.querySelector('.grid-section.positive h3')?.textContent === 'Positives (7)');
    let samples = await server.client.samples(TAG);
    assert.deepEqual([samples.positives.length, samples.negatives.length], [7, 9]);
    assert.equal(await heading(gallery, 'negative'), 'Negatives (9)');
    assert.match(await gallery.locator('.tag-item[data-tag="stripes"]').innerText(), /samples changed/);

    // Select two negatives with Ctrl+click and remove them from the selection bar.
    const negatives = gallery.locator('.grid-section.negative .sample');
    await negatives.nth(0).click();
    await negatives.nth(1).click({ modifiers: ['Control'] });
    await gallery.getByRole('toolbar', { name: 'Selected samples' }).getByText('Selected: 2 negatives').waitFor();
    await gallery.getByRole('button', { name: 'Remove selected' }).click();
    await gallery.waitForFunction(() => document.querySelector('.grid-section.negative h3')?.textContent === 'Negatives (7)');
    samples = await server.client.samples(TAG);
    assert.equal(samples.negatives.length, 7);

    await gallery.getByRole('button', { name: 'Undo' }).click();
    await gallery.waitForFunction(() => document.querySelector('.grid-section.negative h3')?.textContent === 'Negatives (9)');
    samples = await server.client.samples(TAG);
    assert.equal(samples.negatives.length, 9);
    assert.deepEqual(harness.problems, []);
  });

  it('moves the focused sample with the keyboard', async () => {
    const { server, harness } = await session(untrained);
    const gallery = await galleryOn(harness, TAG, 16);
    const grid = gallery.locator('.grid-section.negative [role=grid]');
    await grid.locator('.sample').first().focus();
    await gallery.keyboard.press('ArrowRight');
    await gallery.keyboard.press('Shift+ArrowRight');
    await gallery.keyboard.press('m');
    await gallery.waitForFunction(() => document.querySelector('.grid-section.positive h3')?.textContent === 'Positives (10)');
    const samples = await server.client.samples(TAG);
    assert.deepEqual([samples.positives.length, samples.negatives.length], [10, 6]);
    assert.deepEqual(harness.problems, []);
  });

  it('adds images dropped on a grid', async () => {
    const { server, harness } = await session(untrained);
    const gallery = await galleryOn(harness, TAG, 16);
    const [image] = await blobImages(1, 50);
    await gallery.evaluate((base64) => {
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], 'dropped-blob.jpg', { type: 'image/jpeg' }));
      transfer.items.add(new File(['not an image'], 'notes.jpg', { type: 'image/jpeg' }));
      const target = document.querySelector('.grid-section.negative')!;
      for (const type of ['dragenter', 'dragover', 'drop'])
        target.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }, image.toString('base64'));
    await gallery.getByText(/Added 1 negative sample to "stripes"\. Skipped 1: notes\.jpg/).waitFor();
    const samples = await server.client.samples(TAG);
    assert.ok(samples.negatives.some((s) => s.fileName === 'dropped-blob.jpg'));
    await gallery.waitForFunction(() => document.querySelector('.grid-section.negative h3')?.textContent === 'Negatives (9)');
    await screenshot(gallery, 'gallery-light');
    assert.deepEqual(harness.problems, []);
  });

  it('the dashboard draws the metrics as charts and in words, and scores a picked image', async () => {
    const { server, harness } = await session(trained);
    const dashboard = await harness.openPanel('dashboard', 'light');
    await dashboard.locator('.sentence', { hasText: 'held-out positive' }).waitFor();
    const metrics = (await server.client.tags()).find((t) => t.tag === TAG)!.metrics!;
    assert.equal(await dashboard.locator('.sentence').innerText(), describeOutcome(metrics));
    const figures = await dashboard.locator('.figures').innerText();
    assert.match(figures, new RegExp(`F1\\s+${metrics.f1.toFixed(3)}\\s+ROC AUC\\s+${metrics.rocAuc.toFixed(3)}[\\s\\S]*${metrics.folds} folds`));
    assert.equal(await dashboard.locator('table.confusion tbody tr').count(), 2);

    const canvases = dashboard.locator('.charts canvas');
    assert.equal(await canvases.count(), 4);
    assert.ok((await colouredPixels(dashboard, '.charts figure:nth-child(1) canvas', 'green')) > 200, 'positive score bars are drawn');
    assert.ok((await colouredPixels(dashboard, '.charts figure:nth-child(1) canvas', 'red')) > 200, 'negative score bars are drawn');
    assert.ok((await colouredPixels(dashboard, '.charts figure:nth-child(2) canvas', 'blue')) > 500, 'the ROC curve is drawn');
    assert.ok((await colouredPixels(dashboard, '.charts figure:nth-child(3) canvas', 'blue')) > 500, 'two cluster bars are drawn');
    assert.ok((await colouredPixels(dashboard, '.charts figure:nth-child(4) canvas', 'blue')) > 50, 'the run history is drawn');
    // Two finished runs of the tag in the history grid, newest first.
    assert.equal(await dashboard.locator('vscode-data-grid-row:not([row-type=header])').count(), 2);

    const [picked] = await stripedImages(1, 40);
    await dashboard.locator('#try-file').setInputFiles({ name: 'new-stripes.jpg', mimeType: 'image/jpeg', buffer: picked });
    const stripesBar = dashboard.getByRole('listitem', { name: /^stripes: / });
    await stripesBar.waitFor();
    const bar = /^stripes: ([01]\.\d\d), threshold ([01]\.\d\d) — yes$/.exec((await stripesBar.getAttribute('aria-label')) ?? '');
    assert.ok(bar, 'the new striped picture is called "yes"');
    assert.ok(Number(bar![1]) >= Number(bar![2]), `score ${bar![1]} is at or above threshold ${bar![2]}`);
    await dashboard.getByRole('listitem', { name: /^aesthetic: / }).waitFor();
    await screenshot(dashboard, 'dashboard-light');
    await dashboard.close();
    assert.deepEqual(harness.problems, []);
  });

  it('Try it names the objects in a picked photo, with counts, from the keywords model', needsKeywordsModel, async () => {
    const { harness } = await session(trained);
    const dashboard = await harness.openPanel('dashboard', 'light');
    await dashboard.locator('.sentence', { hasText: 'held-out positive' }).waitFor();
    await dashboard.locator('#try-file').setInputFiles({ name: 'family.jpg', mimeType: 'image/jpeg', buffer: await peopleWithDogs() });
    const found = dashboard.getByRole('list', { name: 'Keywords' });
    await found.getByRole('listitem', { name: /^person ×2: 0\.\d\d$/ }).waitFor({ timeout: 60_000 });
    await found.getByRole('listitem', { name: /^dog ×2: 0\.\d\d$/ }).waitFor();
    // Surest first: the people before the dogs.
    const labels = await found.locator('.bar-label').allTextContents();
    assert.ok(labels.indexOf('person ×2') < labels.indexOf('dog ×2'), labels.join(', '));
    await screenshot(dashboard, 'dashboard-keywords-light');

    // A picture of no object: the section says so rather than staying empty.
    const [plain] = await blobImages(1, 60);
    await dashboard.locator('#try-file').setInputFiles({ name: 'blob.jpg', mimeType: 'image/jpeg', buffer: plain });
    await dashboard.getByRole('heading', { name: 'blob.jpg' }).waitFor();
    assert.equal(await dashboard.getByRole('list', { name: 'Keywords' }).innerText(), 'No objects found.');
    assert.deepEqual(harness.problems, []);
  });

  it('renders both panels in the dark theme', async () => {
    const { harness } = await session(trained);
    for (const kind of ['gallery', 'dashboard'] as const) {
      const page = await harness.openPanel(kind, 'dark');
      if (kind === 'gallery') {
        await page.locator(`.tag-item[data-tag="${TAG}"]`).click();
        await page.waitForFunction(
          () =>
            document.querySelectorAll('.sample img').length > 0 &&
            [...document.querySelectorAll<HTMLImageElement>('.sample img')].every((i) => i.complete && i.naturalWidth > 0),
        );
      } else {
        await page.locator('.sentence', { hasText: 'held-out positive' }).waitFor();
      }
      const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert.equal(background, 'rgb(31, 31, 31)', 'the theme variables reach the page');
      await screenshot(page, `${kind}-dark`);
      await page.close();
    }
    assert.deepEqual(harness.problems, []);
  });

  it('keeps the selected tag when the panel is reloaded', async () => {
    const { harness } = await session(untrained);
    const gallery = await galleryOn(harness, TAG, 16);
    await gallery.locator('.tag-item[data-tag="moody-film"]').click();
    await gallery.reload();
    await gallery.locator('.tag-item.selected[data-tag="moody-film"]').waitFor();
    assert.equal(await gallery.locator('.tag-title').textContent(), 'moody-film');
  });

  async function addSamples(server: TestServer): Promise<void> {
    const positives = await stripedImages(8);
    const negatives = await blobImages(8);
    for (const [i, image] of positives.entries()) await server.client.addSample('positive', TAG, image, `stripes-${i + 1}.jpg`);
    for (const [i, image] of negatives.entries()) await server.client.addSample('negative', TAG, image, `blob-${i + 1}.jpg`);
    await server.client.addSample('positive', 'moody-film', positives[0], 'film.jpg');
  }
});
