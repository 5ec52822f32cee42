// The review panel, built as shipped, in Debian's Chromium, answered by the extension's own
// request handler over a real engine that has scanned a folder: the keys (Y, N, S, U), the
// mouse and multi-select, each decision saved as a sample and undone exactly, the counter,
// "Train again" and the calls it changed, "more like this", the dark theme, and no CSP
// violation. Screenshots go to test-artifacts/webviews/.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { blobImages, stripedImages, tempDir } from '../helpers/engine';
import { startTestServer, type TestServer } from '../helpers/server';
import { startHarness, type Harness } from '../helpers/webview-harness';

const ARTIFACTS = path.resolve(__dirname, '../../test-artifacts/webviews');
const TAG = 'stripes';
const screenshot = (page: Page, name: string) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });

interface CardView {
  name: string;
  verdict: string;
  changed: boolean;
  focused: boolean;
}

const cards = (page: Page): Promise<CardView[]> =>
  page.locator('.review-card').evaluateAll((cells) =>
    cells.map((c) => ({
      name: c.querySelector('.review-name')!.textContent!,
      verdict: (c as HTMLElement).dataset.verdict ?? '',
      changed: c.classList.contains('changed'),
      focused: document.activeElement === c,
    })),
  );

/** The tag's samples as the engine holds them: what "undo restores the exact state" is checked against. */
async function samplesOf(server: TestServer): Promise<string[]> {
  const { positives, negatives } = await server.client.samples(TAG);
  return [...positives, ...negatives].map((s) => `${s.type}:${s.id}:${s.addedAt}`).sort();
}

describe('the review panel in Chromium', { timeout: 600_000 }, () => {
  let photos: string;
  /** "stripes" trained on 3 striped and 3 blob pictures, two of each labelled the wrong way, and a scan of 10 striped and 10 blob pictures. */
  let state: Uint8Array;

  before(async () => {
    await fs.mkdir(ARTIFACTS, { recursive: true });
    photos = await fs.realpath(await tempDir('tagsmith-review-panel-'));
    for (const [i, bytes] of (await stripedImages(10, 50)).entries()) await fs.writeFile(path.join(photos, `s${String(i).padStart(2, '0')}.jpg`), bytes);
    for (const [i, bytes] of (await blobImages(10, 50)).entries()) await fs.writeFile(path.join(photos, `b${String(i).padStart(2, '0')}.jpg`), bytes);
    const maker = await startTestServer({}, undefined, { scanRoots: [photos] });
    try {
      const striped = await stripedImages(5);
      const blobs = await blobImages(5);
      // A tag that is wrong in places: the review is there to fix it.
      for (const bytes of [...striped.slice(0, 3), ...blobs.slice(3)]) await maker.client.addSample('positive', TAG, bytes);
      for (const bytes of [...blobs.slice(0, 3), ...striped.slice(3)]) await maker.client.addSample('negative', TAG, bytes);
      await maker.client.train(TAG);
      state = await maker.client.getState();
    } finally {
      await maker.close();
    }
  });
  after(() => fs.rm(photos, { recursive: true, force: true }));

  const sessions: { server: TestServer; harness: Harness }[] = [];
  afterEach(async () => {
    for (const { server, harness } of sessions.splice(0)) {
      await harness.close();
      await server.close();
    }
  });
  /** An engine with the tag, the folder scanned, and a harness that may show the folder's images. */
  async function session(): Promise<{ server: TestServer; harness: Harness }> {
    const server = await startTestServer({}, undefined, { scanRoots: [photos] });
    try {
      await server.client.setState(state);
      await server.client.scan([photos]);
      const made = { server, harness: await startHarness(server.client, { imageRoots: [photos] }) };
      sessions.push(made);
      return made;
    } catch (error) {
      await server.close();
      throw error;
    }
  }
  async function reviewPanel(harness: Harness, theme: 'light' | 'dark' = 'light'): Promise<Page> {
    const page = await harness.openPanel('review', theme);
    await page.waitForFunction(() => {
      const images = [...document.querySelectorAll<HTMLImageElement>('.review-card img')];
      return images.length > 0 && images.every((i) => i.complete && i.naturalWidth > 0) && document.activeElement?.classList.contains('review-card');
    });
    return page;
  }
  const counterIs = (page: Page, n: number) => page.locator('.review-counter', { hasText: `${n} reviewed since training` }).waitFor();

  it('adds the focused image with Y and N, skips with S, and U undoes each exactly', async () => {
    const { server, harness } = await session();
    const page = await reviewPanel(harness);
    const queue = await server.client.reviewQueue(TAG, { limit: 48 });
    const shown = await cards(page);
    assert.deepEqual(
      shown.map((c) => c.name),
      queue.images.map((i) => path.basename(i.path)),
      "the engine's review order, most informative first",
    );
    assert.equal(shown.length, 20);
    assert.ok(shown[0].focused, 'the first image has the focus');
    assert.match(await page.locator('.review-card').first().locator('.review-score').innerText(), /^[01]\.\d\d [≥<] [01]\.\d\d · (applies|doesn't apply)$/);
    await counterIs(page, 0);
    const before = await samplesOf(server);

    await page.keyboard.press('y');
    await counterIs(page, 1);
    let now = await cards(page);
    assert.equal(now[0].verdict, 'positive');
    assert.ok(now[1].focused, 'the focus moves on to the next image');
    const { positives } = await server.client.samples(TAG);
    assert.ok(
      positives.some((s) => s.fileName === shown[0].name),
      `${shown[0].name} is a positive sample now`,
    );

    // The queue follows the decision: the engine re-ranks it by the samples as they are now, and
    // the images after the focused one take the new order; the focused one stays put.
    await page.locator('.review-status', { hasText: 'as of your last decision' }).waitFor();
    const reranked = await server.client.reviewQueue(TAG, { limit: 48 });
    assert.equal(reranked.rerankedSinceTraining, true);
    now = await cards(page);
    assert.equal(now[1].name, shown[1].name, 'the image the reviewer is on does not move');
    assert.ok(now[1].focused);
    assert.deepEqual(
      now.slice(2).map((c) => c.name),
      reranked.images.map((i) => path.basename(i.path)).filter((name) => name !== shown[1].name),
      'after it, the re-ranked queue',
    );

    const afterY = await samplesOf(server);
    await page.keyboard.press('n');
    await counterIs(page, 2);
    await page.keyboard.press('s');
    now = await cards(page);
    assert.deepEqual(
      now.slice(0, 4).map((c) => c.verdict),
      ['positive', 'negative', 'skipped', ''],
    );
    assert.ok(now[3].focused);
    assert.equal((await server.client.samples(TAG)).negatives.filter((s) => s.fileName === shown[1].name).length, 1);

    await page.keyboard.press('u'); // the skip
    await page.waitForFunction(() => document.querySelectorAll<HTMLElement>('.review-card')[2].dataset.verdict === '');
    await page.keyboard.press('u'); // the negative
    await page.waitForFunction(() => document.querySelectorAll<HTMLElement>('.review-card')[1].dataset.verdict === '');
    await counterIs(page, 1);
    assert.deepEqual(await samplesOf(server), afterY, 'the negative it added is gone, nothing else changed');
    assert.ok((await cards(page))[1].focused, 'the focus is back on the image taken back');
    await page.keyboard.press('u');
    await counterIs(page, 0);
    assert.deepEqual(await samplesOf(server), before, 'every decision undone: the samples are as they were');
    assert.deepEqual(harness.problems, []);
  });

  it('keeps every card working after a re-rank: a click picks the card it lands on, and its key decides that image', async () => {
    const { server, harness } = await session();
    const page = await reviewPanel(harness);
    await page.keyboard.press('y');
    await page.locator('.review-status', { hasText: 'as of your last decision' }).waitFor();
    // A card the re-rank put after the focused one (reused or new), clicked and decided with N.
    const target = (await cards(page))[6];
    await page.locator('.review-card').nth(6).click();
    assert.ok((await cards(page))[6].focused || (await page.locator('.review-card.selected').count()) === 1, 'the click picked the card');
    await page.keyboard.press('n');
    await counterIs(page, 2);
    const decided = await cards(page);
    assert.equal(decided.find((c) => c.name === target.name)?.verdict, 'negative', `${target.name} is the image decided`);
    assert.equal((await server.client.samples(TAG)).negatives.filter((s) => s.fileName === target.name).length, 1);
    // What the queue is ranked by now shows on the cards after a decision: "now 0.37".
    assert.match(
      await page
        .locator('.review-card .review-now')
        .filter({ hasText: /^now [01]\.\d\d$/ })
        .first()
        .innerText(),
      /^now [01]\.\d\d$/,
    );
    assert.deepEqual(harness.problems, []);
  });

  it('decides a selection with one key or the mouse, and undoes it as one step', async () => {
    const { server, harness } = await session();
    const page = await reviewPanel(harness);
    const before = await samplesOf(server);
    const card = (i: number) => page.locator('.review-card').nth(i);
    await card(2).click();
    await card(4).click({ modifiers: ['Shift'] });
    await card(7).click({ modifiers: ['Control'] });
    assert.equal(await page.locator('.review-card.selected').count(), 4);
    await page.keyboard.press('n');
    await counterIs(page, 4);
    assert.deepEqual(
      (await cards(page)).map((c, i) => [i, c.verdict]).filter(([, v]) => v),
      [
        [2, 'negative'],
        [3, 'negative'],
        [4, 'negative'],
        [7, 'negative'],
      ],
    );
    assert.equal(await page.locator('.review-card.selected').count(), 0, 'the selection is spent');
    assert.equal((await server.client.samples(TAG)).negatives.length, 5 + 4);

    // The mouse: a card's own "Y" button.
    await card(0).hover();
    await card(0)
      .getByRole('button', { name: /^It is \(add as positive\)/ })
      .click();
    await counterIs(page, 5);
    await page.getByRole('button', { name: 'Undo' }).click();
    await counterIs(page, 4);
    await page.keyboard.press('u');
    await counterIs(page, 0);
    assert.deepEqual((await cards(page)).map((c) => c.verdict).filter(Boolean), []);
    assert.deepEqual(await samplesOf(server), before);
    assert.deepEqual(harness.problems, []);
  });

  it('trains again after ten reviews with the keyboard, and says and marks the calls that changed', async () => {
    const { server, harness } = await session();
    const page = await reviewPanel(harness);
    for (let i = 0; i < 10; i++) {
      // As a keyboard user does, look for the focus ring before each key: a refresh of the queue
      // (the engine's change events) can land between two presses (CI once read no focused card here).
      await page.waitForFunction(() => document.activeElement?.classList.contains('review-card'));
      const focused = (await cards(page)).find((c) => c.focused)!;
      await page.keyboard.press(focused.name.startsWith('s') ? 'y' : 'n');
    }
    await counterIs(page, 10);
    await screenshot(page, 'review-light');
    await page.getByRole('button', { name: 'Train again' }).click();
    const notice = page.locator('.notice', { hasText: /Trained "stripes" again/ });
    await notice.waitFor({ timeout: 120_000 });
    const queue = await server.client.reviewQueue(TAG, { limit: 48 });
    assert.ok(queue.changedCalls > 0, "the reviews turned some of the scan's calls");
    assert.match(await notice.innerText(), new RegExp(`again: ${queue.changedCalls} calls? of the scan changed`));
    await counterIs(page, 0);
    const shown = await cards(page);
    assert.deepEqual(
      shown.map((c) => c.name),
      queue.images.map((i) => path.basename(i.path)),
      'the reviewed images have left the queue',
    );
    assert.equal(shown.length, 10);
    assert.deepEqual(
      shown.filter((c) => c.changed).map((c) => c.name),
      queue.images.filter((i) => i.changed).map((i) => path.basename(i.path)),
      'the changed calls are marked',
    );
    assert.match(await page.locator('.review-status').innerText(), new RegExp(`${queue.changedCalls} calls? changed when "stripes" was last trained`));
    await screenshot(page, 'review-retrained-light');
    assert.deepEqual(harness.problems, []);
  });

  it('shows the views "applies" and "doesn\'t apply", and more like an image, to add in one step', async () => {
    const { server, harness } = await session();
    const page = await reviewPanel(harness);
    await page.getByRole('tab', { name: 'Applies' }).click();
    const applies = await server.client.reviewQueue(TAG, { view: 'applies', limit: 48 });
    await page.waitForFunction(
      (n) =>
        document.querySelectorAll('.review-card').length === n && [...document.querySelectorAll('.review-score')].every((s) => s.classList.contains('applies')),
      applies.images.length,
    );
    await page.getByRole('tab', { name: "Doesn't apply" }).click();
    const rejects = await server.client.reviewQueue(TAG, { view: 'not-applies', limit: 48 });
    await page.waitForFunction(
      (n) =>
        document.querySelectorAll('.review-card').length === n &&
        [...document.querySelectorAll('.review-score')].every((s) => s.classList.contains('not-applies')),
      rejects.images.length,
    );
    assert.equal(applies.total + rejects.total, 20);

    // More like this, from a striped picture's card: mostly striped ones, then samples.
    await page.getByRole('tab', { name: 'Most informative' }).click();
    await page.waitForFunction(() => document.querySelectorAll('.review-card').length === 20);
    const striped = page
      .locator('.review-card')
      .filter({ has: page.locator('.review-name', { hasText: /^s\d\d\.jpg$/ }) })
      .first();
    const name = await striped.locator('.review-name').innerText();
    await striped.hover();
    await striped.getByRole('button', { name: /^More like this/ }).click();
    await page.locator('.similar-header', { hasText: `Most like ${name}` }).waitFor();
    // The first rows drawn (images further down load as they scroll into view).
    await page.waitForFunction(
      () =>
        document.querySelectorAll('.review-card .review-similarity').length > 10 &&
        [...document.querySelectorAll<HTMLImageElement>('.review-card img')].slice(0, 8).every((i) => i.complete && i.naturalWidth > 0),
    );
    const similar = await cards(page);
    assert.ok(!similar.some((c) => c.name === name), `not the image itself: ${name} in ${similar.map((c) => c.name).join(', ')}`);
    assert.ok(
      similar.slice(0, 5).filter((c) => c.name.startsWith('s')).length >= 4,
      `mostly striped first: ${similar
        .slice(0, 5)
        .map((c) => c.name)
        .join(', ')}`,
    );
    const alike = await page.locator('.review-similarity').allInnerTexts();
    assert.ok(alike.every((t) => /^\d+% alike$/.test(t)));
    assert.ok(
      (await page.locator('.review-note', { hasText: /sample: (positive|negative) of stripes/ }).count()) > 0,
      'the samples alike are shown, with what they are',
    );

    // Select the first three and add them as positives in one step.
    const card = (i: number) => page.locator('.review-card').nth(i);
    await card(0).click();
    await card(2).click({ modifiers: ['Shift'] });
    const before = (await server.client.samples(TAG)).positives.length;
    await page.keyboard.press('y');
    await counterIs(page, 3);
    assert.equal((await server.client.samples(TAG)).positives.length, before + 3);
    await page.getByRole('button', { name: 'Back to the review queue' }).click();
    await page
      .waitForFunction(() => document.querySelectorAll('.review-card').length === 17, undefined, { timeout: 30_000 })
      .catch(async (e: unknown) => {
        throw new Error(
          `${(e as Error).message}: ${(await cards(page)).length} cards; ${await page.locator('.review-status').innerText()} ${await page.locator('#app').innerText()}`,
        );
      });
    assert.equal(await page.locator('[role=tab][aria-selected=true]').innerText(), 'Most informative');
    assert.deepEqual(harness.problems, []);
  });

  it('renders in the dark theme without a CSP violation', async () => {
    const { harness } = await session();
    const page = await reviewPanel(harness, 'dark');
    const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.equal(background, 'rgb(31, 31, 31)', 'the theme variables reach the page');
    const card = await page.evaluate(() => getComputedStyle(document.querySelector('.review-card')!).backgroundColor);
    assert.notEqual(card, 'rgba(0, 0, 0, 0)', 'cards stand out from the page');
    await page.keyboard.press('y');
    await page.locator('.review-card[data-verdict=positive] .review-mark', { hasText: '✓ it is' }).waitFor();
    await screenshot(page, 'review-dark');
    assert.deepEqual(harness.problems, []);
  });
});
