// The review panel: one tag over the newest scan, the images that would teach it most first.
// Y (it is: a positive), N (it isn't: a negative), S skip, U undo, on the focused image or the
// selection; each decision is saved as a sample by the host. A counter of reviews since the
// tag was trained and "Train again"; after training, the scan's calls are re-scored and the
// panel says how many changed and marks them. "More like this" shows the images most like
// one (scanned images and samples), decided on with the same keys.
import './panels.css';
import { DEFAULT_TRAIN_OPTIONS, hasEnoughSamples, isActiveTask } from '../kernel/rules';
import { clear, h, percent, plural } from './lib/dom';
import { HostConnection, HostError } from './lib/host-connection';
import { Notice } from './lib/notice';
import { ThumbnailLoader } from './lib/thumbnail-loader';
import { registerToolkit } from './lib/toolkit';
import { ReviewGrid } from './review/review-grid';
import { queueItems, similarItems } from './review/review-items';
import { ReviewSession, type Verdict } from './review/review-session';
import { ViewTabs } from './review/view-tabs';
import { REVIEW_VIEWS, type EngineSnapshot, type ReviewPage, type ReviewView, type SimilarTarget, type TagSummary } from './protocol';

interface ReviewState {
  tag: string;
  view: ReviewView;
  similarTo: SimilarTarget;
}

const PAGE = 48;
/** The most a queue read may ask for (the engine's page limit). */
const MAX_QUEUE_READ = 1000;
const SIMILAR = 36;

registerToolkit();
const host = new HostConnection<ReviewState>('review');
const notice = new Notice();
const session = new ReviewSession();

let snapshot: EngineSnapshot = { tags: [], tasks: [] };
let tag: string | undefined = host.state.tag;
let view: ReviewView = REVIEW_VIEWS.includes(host.state.view as ReviewView) ? host.state.view! : 'informative';
let similarTo: SimilarTarget | undefined = host.state.similarTo;
let page: ReviewPage | undefined;
/** Set while "Train again" runs: the tag and when it was trained before. */
let retraining: { tag: string; taskId: string; trainedAt?: string } | undefined;
/** Everything that changes the tag's samples or reads them runs in order, one at a time. */
let work: Promise<void> = Promise.resolve();
/** Decisions and undos waiting in `work`: while any is, the queue is not re-read (the last one re-reads it). */
let waitingChanges = 0;
/** A re-read was left to a change still waiting; an undo of a skip, which changes no sample, still owes it. */
let rerankOwed = false;

const grid = new ReviewGrid(
  new ThumbnailLoader(host),
  {
    decide: (keys, verdict) => decide(keys, verdict),
    open: (item) => {
      if ('path' in item.image) void run(host.request('review/openFile', { path: item.image.path }));
      else void run(host.request('samples/open', { sampleId: item.image.sampleId, fileName: item.label }));
    },
    moreLike: (item) => showSimilar(item.moreLike),
    verdictOf: (key) => session.verdictOf(key),
    selectionChanged: () => renderCounter(),
  },
  () => tag ?? '',
);

const tagPicker = h('vscode-dropdown', { 'aria-label': 'Tag to review', className: 'tag-picker' });
tagPicker.addEventListener('change', () => selectTag((tagPicker as HTMLElement & { value: string }).value));
const tabs = new ViewTabs(view, (next) => {
  view = next;
  host.saveState({ view });
  leaveSimilar();
});
const counter = h('span', { className: 'review-counter', role: 'status' });
const undoButton = h('vscode-button', { appearance: 'secondary', title: 'Undo the last decision (U)', onclick: () => undo() }, 'Undo');
const trainButton = h('vscode-button', { appearance: 'primary', onclick: () => trainAgain() }, 'Train again');
const trainProgress = h('span', { className: 'train-progress', hidden: true });
const status = h('p', { className: 'review-status muted' });
const similarHeader = h('div', { className: 'similar-header', hidden: true });
const more = h('vscode-button', { appearance: 'secondary', className: 'show-more', hidden: true, onclick: () => void loadMore() }, 'Show more');
const keysHelp = h(
  'p',
  { className: 'keys-help muted' },
  "Y it is · N it isn't · S skip · U undo · arrows move · Space, Ctrl/Cmd-click and Shift-click select · Enter opens",
);

document
  .getElementById('app')!
  .append(
    h('header', { className: 'toolbar review-toolbar' }, h('h1', {}, 'Review'), tagPicker, tabs.element, counter, undoButton, trainButton, trainProgress),
    notice.element,
    status,
    similarHeader,
    keysHelp,
    grid.element,
    more,
  );

document.addEventListener('keydown', (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
  const inField = (e.target as HTMLElement).closest('vscode-text-field, vscode-dropdown, input, select, textarea');
  if (inField) return;
  const verdicts: Record<string, Verdict> = { y: 'positive', n: 'negative', s: 'skipped' };
  const key = e.key.toLowerCase();
  if (key in verdicts) {
    e.preventDefault();
    decide(grid.targets(), verdicts[key]);
  } else if (key === 'u') {
    e.preventDefault();
    undo();
  }
});

host.on('engine/changed', (next) => {
  snapshot = next;
  if (!tag && trainedTags().length > 0) selectTag(trainedTags()[0].tag);
  renderToolbar();
  followRetraining();
});
host.on('panel/showTag', ({ tag: shown }) => selectTag(shown));
host.on('review/showSimilar', ({ target }) => showSimilar(target));
host.ready();
void run(
  host.request('engine/snapshot', {}).then((s) => {
    snapshot = s;
    tag ??= trainedTags()[0]?.tag;
    renderToolbar();
    reload();
  }),
);

function trainedTags(): TagSummary[] {
  return snapshot.tags.filter((t) => t.trained);
}

function currentTag(): TagSummary | undefined {
  return snapshot.tags.find((t) => t.tag === tag);
}

function selectTag(next: string): void {
  if (next === tag) return;
  tag = next;
  host.saveState({ tag });
  renderToolbar();
  reload();
}

function showSimilar(target: SimilarTarget): void {
  similarTo = target;
  host.saveState({ similarTo: target });
  reload();
}

function leaveSimilar(): void {
  similarTo = undefined;
  host.saveState({ similarTo: undefined });
  reload();
}

function renderToolbar(): void {
  const tags = trainedTags();
  clear(
    tagPicker,
    tags.map((t) => h('vscode-option', { value: t.tag }, t.tag)),
  );
  if (tag) (tagPicker as HTMLElement & { value: string }).value = tag;
  tagPicker.hidden = tags.length === 0;
  const summary = currentTag();
  const running = snapshot.tasks.find((t) => t.tag === tag && isActiveTask(t));
  trainButton.toggleAttribute('disabled', !summary || Boolean(running) || !hasEnoughSamples(summary));
  trainProgress.hidden = !running;
  if (running)
    trainProgress.replaceChildren(h('vscode-progress-ring', { 'aria-label': 'Training' }), ` ${running.stage ?? running.state} ${percent(running.progress)}`);
  renderCounter();
}

function renderCounter(): void {
  counter.textContent = `${session.reviewedSinceTraining} reviewed since training`;
  undoButton.toggleAttribute('disabled', !session.canUndo);
  const selected = grid.selection.ids.length;
  keysHelp.firstChild!.textContent =
    selected > 1
      ? `${selected} selected: Y, N or S decides them all · U undo · Esc clears the selection`
      : "Y it is · N it isn't · S skip · U undo · arrows move · Space, Ctrl/Cmd-click and Shift-click select · Enter opens";
}

/** Reads the queue (or the similar images) again, after whatever is saving has been saved. */
function reload(): void {
  schedule(async () => {
    if (!tag) {
      page = undefined;
      status.textContent = '';
      grid.setItems([], 'No trained tag yet. Train a tag (Tagsmith: Train Tag…), tag a folder with it (Tagsmith: Tag Images in Folder…), then review it here.');
      more.hidden = true;
      return;
    }
    tabs.element.hidden = Boolean(similarTo);
    similarHeader.hidden = !similarTo;
    if (similarTo) await loadSimilar(tag, similarTo);
    else await loadQueue(tag);
    grid.focusCurrent();
  });
}

async function loadQueue(forTag: string): Promise<void> {
  try {
    page = await host.request('review/queue', { tag: forTag, view, offset: 0, limit: PAGE });
  } catch (error) {
    page = undefined;
    more.hidden = true;
    status.textContent = '';
    grid.setItems([], emptyText(error));
    return;
  }
  if (forTag !== tag) return; // the user moved on while it loaded
  session.queueRead(page.reviewedSinceTraining);
  grid.setItems(queueItems(page), view === 'informative' ? 'Every scanned image is a sample of this tag already.' : 'No image of the scan is in this view.');
  renderStatus();
}

async function loadMore(): Promise<void> {
  const forTag = tag;
  if (!forTag || !page) return;
  // The queue from its start, as far as the cards still open plus a page: a re-rank since the
  // last read moves images across any offset, so what is new is told by key, not by position.
  const stillQueued = openCards();
  await run(
    (async () => {
      const next = await host.request('review/queue', { tag: forTag, view, offset: 0, limit: Math.min(MAX_QUEUE_READ, stillQueued + PAGE) });
      if (forTag !== tag || !page) return;
      const shown = new Set(grid.all.map((i) => i.key));
      grid.append(queueItems(next).filter((i) => !shown.has(i.key)));
      page = next;
      renderStatus();
    })(),
  );
}

/** Cards still in the engine's queue: not decided, or skipped (a skip adds no sample). */
function openCards(): number {
  return grid.all.filter((i) => {
    const v = session.verdictOf(i.key);
    return v === undefined || v === 'skipped';
  }).length;
}

async function loadSimilar(forTag: string, target: SimilarTarget): Promise<void> {
  clear(
    similarHeader,
    h('span', {}, `Most like ${target.label}: Y adds as positives of "${forTag}", N as negatives.`),
    h('vscode-button', { appearance: 'secondary', onclick: () => leaveSimilar() }, 'Back to the review queue'),
  );
  status.textContent = '';
  more.hidden = true;
  try {
    const result = await host.request('review/similar', { target, limit: SIMILAR });
    const items = similarItems(result, forTag);
    grid.setItems(items, 'Nothing to compare it with yet: tag a folder first (Tagsmith: Tag Images in Folder…).');
    status.textContent = `${plural(result.images.length, 'scanned image')} and ${plural(result.samples.length, 'sample')} most like ${target.label}, the most alike first.`;
  } catch (error) {
    grid.setItems([], emptyText(error));
  }
}

function renderStatus(): void {
  if (!page) return;
  const shown = grid.all.length;
  const changed = page.changedCalls > 0 ? ` ${plural(page.changedCalls, 'call')} changed when "${page.tag}" was last trained (marked "changed").` : '';
  const what = {
    informative: page.rerankedSinceTraining ? 'to review, the least certain first as of your last decision' : 'to review, the least certain first',
    applies: 'the tag applies to, the least certain first',
    'not-applies': 'the tag does not apply to, the least certain first',
  }[view];
  status.textContent = `${plural(page.total, 'scanned image')} ${what}; showing ${shown}.${changed}`;
  more.hidden = openCards() >= page.total;
}

function emptyText(error: unknown): string {
  const code = error instanceof HostError ? error.code : '';
  if (code === 'unknown_scan') return 'No folder is tagged yet: right-click a folder in the Explorer → Tagsmith: Tag Images in Folder…, then review here.';
  return `Could not read the images to review: ${(error as Error).message}`;
}

function decide(keys: string[], verdict: Verdict): void {
  const forTag = tag;
  if (!forTag) return;
  const step = session.record(verdict, keys);
  if (!step) return;
  grid.advancePast(keys);
  renderCounter();
  if (verdict === 'skipped') return;
  const items = new Map(grid.all.map((i) => [i.key, i]));
  waitingChanges++;
  schedule(async () => {
    waitingChanges--;
    for (const { key } of [...step.items]) {
      const item = items.get(key);
      try {
        if (!item) throw new Error('That image is no longer shown.');
        session.settle(step, key, await host.request('review/decide', { tag: forTag, type: verdict, target: item.target }));
      } catch (error) {
        session.fail(step, key);
        grid.refresh();
        notice.error(`${item?.label ?? 'An image'} was not saved: ${(error as Error).message}`);
      }
    }
    renderCounter();
    await followDecisions(forTag);
  });
}

/**
 * After a decision or an undo: the queue read again, which the engine has re-ranked by the tag's
 * samples as they now are, and its images put after the focused one. The focused image stays,
 * so the next image comes from the ranking one decision earlier (bench:active measures the panel
 * so), or earlier still when keys come faster than the re-reads: not while more decisions wait
 * to be saved, so fast keys never queue a re-read each. Not while images are selected either:
 * the reviewer is choosing among the cards shown.
 */
async function followDecisions(forTag: string): Promise<void> {
  if (waitingChanges > 0) {
    rerankOwed = true; // a change made meanwhile re-reads it once saved
    return;
  }
  rerankOwed = false;
  if (similarTo || view !== 'informative' || forTag !== tag || grid.selection.ids.length > 0) return;
  // As many as are shown, so cards "Show more" brought stay in the grid.
  const next = await host.request('review/queue', { tag: forTag, view, offset: 0, limit: Math.min(MAX_QUEUE_READ, Math.max(PAGE, grid.all.length)) });
  if (similarTo || view !== 'informative' || forTag !== tag || grid.selection.ids.length > 0) return;
  page = next;
  session.queueRead(next.reviewedSinceTraining);
  grid.reorderAfterFocus(queueItems(next));
  renderStatus();
  renderCounter();
}

function undo(): void {
  waitingChanges++;
  schedule(async () => {
    waitingChanges--;
    const step = session.undo();
    if (!step || !tag) return;
    grid.refresh();
    // The last decision's images, back as they were before it, newest first.
    for (const item of [...step.items].reverse()) {
      if (!item.effect) continue;
      await host.request('review/undo', { tag, effect: item.effect });
      session.undone(item.effect);
    }
    const first = step.items[0]?.key;
    if (first && !grid.all.some((i) => i.key === first)) {
      // Decided before the queue was read again: it is back in the queue now.
      if (similarTo) await loadSimilar(tag, similarTo);
      else await loadQueue(tag);
    }
    if (first) grid.focusKey(first);
    notice.show(`Undone: ${plural(step.items.length, 'image')} ${step.verdict === 'skipped' ? 'no longer skipped' : `no longer a ${step.verdict} sample`}.`);
    renderCounter();
    if (step.verdict !== 'skipped' || rerankOwed) await followDecisions(tag);
  });
}

function trainAgain(): void {
  const summary = currentTag();
  if (!summary) return;
  schedule(async () => {
    const { taskId } = await host.request('train/start', { tag: summary.tag, options: summary.options ?? DEFAULT_TRAIN_OPTIONS });
    retraining = { tag: summary.tag, taskId, trainedAt: summary.trainedAt };
    notice.show(`Training "${summary.tag}" again with ${plural(session.reviewedSinceTraining, 'new review')}…`, undefined, true);
  });
}

/** Once "Train again" has finished: the scan re-scored, the queue read again, the changed calls said. */
function followRetraining(): void {
  if (!retraining) return;
  const { tag: trainedTag, taskId, trainedAt } = retraining;
  const task = snapshot.tasks.find((t) => t.task_id === taskId);
  if (task?.state === 'failed') {
    retraining = undefined;
    notice.error(`Training "${trainedTag}" failed: ${task.error?.message ?? 'no reason given'}.`);
    return;
  }
  const summary = snapshot.tags.find((t) => t.tag === trainedTag);
  if (!summary?.trainedAt || summary.trainedAt === trainedAt || (task && isActiveTask(task))) return;
  retraining = undefined;
  if (trainedTag !== tag) return;
  similarTo = undefined;
  host.saveState({ similarTo: undefined });
  schedule(async () => {
    await loadQueue(trainedTag);
    const changed = page?.changedCalls ?? 0;
    const f1 = summary.metrics ? ` F1 ${summary.metrics.f1.toFixed(2)}, ROC AUC ${summary.metrics.rocAuc.toFixed(2)}.` : '';
    notice.show(
      `Trained "${trainedTag}" again: ${plural(changed, 'call')} of the scan changed${changed > 0 ? ' (marked "changed")' : ''}.${f1}`,
      undefined,
      true,
    );
    grid.focusCurrent();
  });
}

function schedule(job: () => Promise<void>): void {
  work = work.then(job).catch((error: unknown) => notice.error((error as Error).message));
}

/** Runs a request; a failure becomes a readable notice, never an uncaught error. */
async function run(request: Promise<unknown>): Promise<void> {
  try {
    await request;
  } catch (error) {
    notice.error((error as Error).message);
  }
}
