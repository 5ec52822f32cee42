// The sample gallery: tags on the left; the selected tag's positives and negatives on the
// right, with training controls, multi-select, move/remove with undo, and drop-to-add; the
// samples the tag disagrees with flagged, and sorted first on request.
import './panels.css';
import { hasEnoughSamples, isActiveTask } from '../kernel/rules';
import { isValidTag, TAG_RULE } from '../kernel/state/path-names';
import { clear, h, plural } from './lib/dom';
import { readDrop } from './lib/files';
import { HostConnection } from './lib/host-connection';
import { Notice } from './lib/notice';
import { registerToolkit } from './lib/toolkit';
import { TrainForm } from './lib/train-form';
import { SampleGrid, type SampleGridActions } from './gallery/sample-grid';
import { TagList } from './gallery/tag-list';
import { ThumbnailLoader } from './lib/thumbnail-loader';
import type { EngineSnapshot, SampleOrder, SampleType, SampleView, TagSummary } from './protocol';

interface GalleryState {
  tag: string;
  filter: string;
  order: SampleOrder;
}

registerToolkit();
const host = new HostConnection<GalleryState>('gallery');
const loader = new ThumbnailLoader(host);
const notice = new Notice();

let snapshot: EngineSnapshot = { tags: [], tasks: [] };
let selectedTag: string | undefined = host.state.tag;
let filter = host.state.filter ?? '';
let order: SampleOrder = host.state.order === 'suspicious' ? 'suspicious' : 'added';
let shownSummary = '';

const actions: SampleGridActions = {
  open: (sample) => void run(host.request('samples/open', { sampleId: sample.id, fileName: sample.fileName })),
  move: (ids, to) =>
    void run(
      host.request('samples/move', { tag: selectedTag!, sampleIds: ids, to }).then(({ moved }) => {
        notice.show(`Moved ${plural(moved, 'sample')} to the ${to}s.`);
        return reloadSamples();
      }),
    ),
  remove: (ids) =>
    void run(
      host.request('samples/remove', { tag: selectedTag!, sampleIds: ids }).then(({ removed, undoToken }) => {
        notice.show(`Removed ${plural(removed, 'sample')}.`, {
          label: 'Undo',
          run: () =>
            run(
              host.request('samples/undoRemove', { undoToken }).then(({ restored }) => {
                notice.show(`Restored ${plural(restored, 'sample')}.`);
                return reloadSamples();
              }),
            ),
        });
        return reloadSamples();
      }),
    ),
  drop: (transfer, type) => void addDropped(transfer, type),
  selectionChanged: () => renderSelectionBar(),
  moreLike: (sample) =>
    void run(
      host.request('panel/open', { panel: 'review', tag: selectedTag, similarTo: { sampleId: sample.id, label: sample.fileName ?? sample.id.slice(0, 12) } }),
    ),
};

const tagList = new TagList((tag) => selectTag(tag));
const grids = { positive: new SampleGrid('positive', loader, actions), negative: new SampleGrid('negative', loader, actions) };
const trainForm = new TrainForm(
  (options) => void run(host.request('train/start', { tag: selectedTag!, options }).then(() => notice.show(`Training "${selectedTag}"…`))),
);

const filterBox = h('vscode-text-field', { placeholder: 'Filter tags and file names', 'aria-label': 'Filter tags and file names', className: 'filter' });
(filterBox as HTMLElement & { value: string }).value = filter;
filterBox.addEventListener('input', () => {
  filter = (filterBox as HTMLElement & { value: string }).value;
  host.saveState({ filter });
  render();
  void reloadSamples();
});
const dashboardButton = h(
  'vscode-button',
  { appearance: 'secondary', onclick: () => void run(host.request('panel/open', { panel: 'dashboard', tag: selectedTag })) },
  'Training dashboard',
);
const reviewButton = h(
  'vscode-button',
  {
    appearance: 'secondary',
    title: 'Review the tag over the last scan: the images that would teach it most first',
    onclick: () => void run(host.request('panel/open', { panel: 'review', tag: selectedTag })),
  },
  'Review',
);
const suspicionLine = h('p', { className: 'suspicion-line', hidden: true });
const orderButton = h(
  'button',
  { className: 'view-tab', 'aria-pressed': String(order === 'suspicious'), onclick: () => setOrder(order === 'suspicious' ? 'added' : 'suspicious') },
  'Most suspicious first',
);
const selectionBar = h('div', { className: 'selection-bar', role: 'toolbar', 'aria-label': 'Selected samples', hidden: true });
const tagTitle = h('h2', { className: 'tag-title' });
const tagSummary = h('p', { className: 'tag-summary muted' });
const detail = h(
  'section',
  { className: 'tag-detail', 'aria-label': 'Samples of the selected tag' },
  h('div', { className: 'tag-header' }, h('div', {}, tagTitle, tagSummary, suspicionLine), trainForm.element),
  selectionBar,
  grids.positive.element,
  grids.negative.element,
);
const emptyState = welcome();
const app = document.getElementById('app')!;
app.append(
  h('header', { className: 'toolbar' }, h('h1', {}, 'Tagsmith samples'), filterBox, reviewButton, dashboardButton),
  notice.element,
  h('main', { className: 'gallery' }, h('nav', { className: 'sidebar', 'aria-label': 'Tags' }, tagList.element), detail, emptyState),
);

host.on('engine/changed', (next) => {
  snapshot = next;
  render();
  const summary = JSON.stringify(next.tags.find((t) => t.tag === selectedTag) ?? null);
  if (summary !== shownSummary) void reloadSamples();
});
host.on('panel/showTag', ({ tag }) => selectTag(tag));
host.ready();
void run(
  host.request('engine/snapshot', {}).then((s) => {
    snapshot = s;
    render();
    return reloadSamples();
  }),
);

function selectTag(tag: string): void {
  selectedTag = tag;
  host.saveState({ tag });
  grids.positive.selection.clear();
  grids.negative.selection.clear();
  render();
  void reloadSamples();
}

function currentTag(): TagSummary | undefined {
  return snapshot.tags.find((t) => t.tag === selectedTag);
}

function render(): void {
  if (!selectedTag && snapshot.tags.length > 0) selectedTag = snapshot.tags[0].tag;
  tagList.render(snapshot.tags, selectedTag, filter);
  const tag = currentTag();
  const hasTag = Boolean(selectedTag);
  detail.hidden = !hasTag;
  emptyState.hidden = hasTag;
  if (!hasTag) return;
  tagTitle.textContent = selectedTag!;
  tagSummary.textContent = !tag
    ? 'A new tag: drop images on Positives and Negatives below to start it.'
    : `${plural(tag.positives, 'positive')}, ${plural(tag.negatives, 'negative')}. ${tag.trained ? `Trained ${new Date(tag.trainedAt!).toLocaleString()}; F1 ${tag.metrics!.f1.toFixed(2)}, ROC AUC ${tag.metrics!.rocAuc.toFixed(2)}.${tag.stale ? ' Samples changed since: train again to use them.' : ''}` : (tag.retrainReason ?? 'Not trained yet.')}`;
  const running = snapshot.tasks.find((t) => t.tag === selectedTag && isActiveTask(t));
  trainForm.update(tag?.options, running, Boolean(tag && hasEnoughSamples(tag)));
  reviewButton.toggleAttribute('disabled', !tag?.trained);
}

function setOrder(next: SampleOrder): void {
  order = next;
  host.saveState({ order });
  orderButton.setAttribute('aria-pressed', String(order === 'suspicious'));
  void reloadSamples();
}

/** How many samples the tag disagrees with, and the sort that shows them first. */
function renderSuspicion(suspicious: number): void {
  suspicionLine.hidden = suspicious === 0 && order === 'added';
  clear(
    suspicionLine,
    h(
      'span',
      {},
      suspicious === 0
        ? 'No sample looks mislabelled. '
        : `⚠ ${plural(suspicious, 'sample')} ${suspicious === 1 ? 'looks' : 'look'} mislabelled (${suspicious === 1 ? 'its badge says' : 'their badges say'} why). M moves the selected to the other side, Delete removes. `,
    ),
    orderButton,
  );
}

async function reloadSamples(): Promise<void> {
  const tag = currentTag();
  shownSummary = JSON.stringify(tag ?? null);
  if (!tag) {
    grids.positive.setSamples([]);
    grids.negative.setSamples([]);
    return;
  }
  const { positives, negatives, suspicious } = await host.request('samples/list', { tag: tag.tag, order });
  if (tag.tag !== selectedTag) return; // the user moved on while it loaded
  renderSuspicion(suspicious);
  const matches = (s: SampleView) =>
    !filter || tag.tag.toLowerCase().includes(filter.toLowerCase()) || (s.fileName ?? '').toLowerCase().includes(filter.toLowerCase());
  grids.positive.setSamples(positives.filter(matches));
  grids.negative.setSamples(negatives.filter(matches));
}

function renderSelectionBar(): void {
  const chosen = [grids.positive, grids.negative].filter((g) => g.selection.ids.length > 0);
  selectionBar.hidden = chosen.length === 0;
  if (chosen.length === 0) return;
  clear(
    selectionBar,
    h('span', {}, `Selected: ${chosen.map((g) => g.describeSelection()).join(' and ')}`),
    chosen.map((g) => {
      const to: SampleType = g.type === 'positive' ? 'negative' : 'positive';
      return h('vscode-button', { appearance: 'secondary', onclick: () => actions.move(g.selection.ids, to) }, `Move ${g.selection.ids.length} to ${to}s`);
    }),
    h('vscode-button', { appearance: 'secondary', onclick: () => actions.remove(chosen.flatMap((g) => g.selection.ids)) }, 'Remove selected'),
    h(
      'vscode-button',
      {
        appearance: 'icon',
        'aria-label': 'Clear the selection',
        onclick: () =>
          chosen.forEach((g) => {
            g.selection.clear();
            g.renderSelection();
          }),
      },
      '✕',
    ),
  );
}

async function addDropped(transfer: DataTransfer, type: SampleType): Promise<void> {
  const tag = selectedTag;
  if (!tag) return;
  await run(
    (async () => {
      const { files, uris } = await readDrop(transfer);
      if (files.length === 0 && uris.length === 0) return;
      notice.show(`Adding ${files.length + uris.length > 1 ? 'images' : 'the image'} to "${tag}"…`, undefined, true);
      const { added, skipped } = await host.request('samples/add', { tag, type, files, uris });
      const skippedText =
        skipped.length > 0
          ? ` Skipped ${skipped.length}: ${skipped
              .slice(0, 3)
              .map((s) => `${s.name} (${s.reason})`)
              .join('; ')}${skipped.length > 3 ? '; …' : ''}`
          : '';
      notice.show(`Added ${plural(added, type + ' sample')} to "${tag}".${skippedText}`);
      await reloadSamples();
    })(),
  );
}

/** What a new user sees: how to start, and a field to name a first tag and drop images on it. */
function welcome(): HTMLElement {
  const name = h('vscode-text-field', { placeholder: 'e.g. golden-retriever', 'aria-label': 'New tag name' }, 'New tag');
  const hint = h('p', { className: 'muted' }, `Tag names: ${TAG_RULE}.`);
  const start = h('vscode-button', { appearance: 'primary' }, 'Start this tag');
  start.addEventListener('click', () => {
    const value = (name as HTMLElement & { value: string }).value.trim();
    if (!isValidTag(value)) {
      hint.textContent = `"${value}" cannot be a tag name: use ${TAG_RULE}.`;
      hint.classList.add('error');
      return;
    }
    selectTag(value);
  });
  return h(
    'section',
    { className: 'empty-state', 'aria-label': 'Getting started' },
    h('h2', {}, 'Teach Tagsmith a new tag'),
    h(
      'ol',
      {},
      h(
        'li',
        {},
        'Right-click a few images (or a folder) in the Explorer → “Tagsmith: Add as Positive Sample…”, and some that are not the tag → “Add as Negative Sample…”. Or name a tag below and drop images on it.',
      ),
      h('li', {}, 'Press “Train” here or run “Tagsmith: Train Tag…” from the Command Palette.'),
      h('li', {}, 'Right-click any image → “Tagsmith: Predict Tags”.'),
    ),
    h('div', { className: 'new-tag' }, name, start),
    hint,
  );
}

/** Runs a request; a failure becomes a readable notice, never an uncaught error. */
async function run(work: Promise<unknown>): Promise<void> {
  try {
    await work;
  } catch (error) {
    notice.error((error as Error).message);
  }
}
