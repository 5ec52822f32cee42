// The training dashboard: live progress, the selected tag's cross-validated quality in charts
// and in words, its run history, and a "Try it" area that scores a dropped image.
import './panels.css';
import { hasEnoughSamples, isActiveTask, samplesNeeded } from '../kernel/rules';
import { describeOutcome } from '../kernel/training/describe-metrics';
import { clear, h, percent, plural } from './lib/dom';
import { readDroppedFile } from './lib/files';
import { HostConnection } from './lib/host-connection';
import { Notice } from './lib/notice';
import { registerToolkit } from './lib/toolkit';
import { TrainForm } from './lib/train-form';
import { MetricCharts } from './dashboard/metric-charts';
import { confusionTable, renderHistory, runningTasks } from './dashboard/run-history';
import { TryIt } from './dashboard/try-it';
import type { EngineSnapshot } from './protocol';

interface DashboardState {
  tag: string;
}

registerToolkit();
const host = new HostConnection<DashboardState>('dashboard');
const notice = new Notice();
let snapshot: EngineSnapshot = { tags: [], tasks: [] };
let selectedTag: string | undefined = host.state.tag;
let drawn = '';

const tagPicker = h('vscode-dropdown', { 'aria-label': 'Tag', className: 'tag-picker' });
tagPicker.addEventListener('change', () => selectTag((tagPicker as HTMLElement & { value: string }).value));
const running = h('div', { className: 'running', 'aria-live': 'polite' });
const title = h('h2', {});
const sentence = h('p', { className: 'sentence' });
const figures = h('dl', { className: 'figures' });
const confusion = h('div', { className: 'confusion-holder' });
const trainForm = new TrainForm(
  (options) => void run(host.request('train/start', { tag: selectedTag!, options }).then(() => notice.show(`Training "${selectedTag}"…`))),
);
const canvas = (label: string) => h('canvas', { role: 'img', 'aria-label': label });
const canvases = {
  histogram: canvas('Held-out scores of positives and negatives, with the threshold'),
  roc: canvas('ROC curve'),
  clusters: canvas('Positives per cluster'),
  history: canvas('F1 and ROC AUC across training runs'),
};
const charts = new MetricCharts(canvases);
const chartCard = (heading: string, c: HTMLCanvasElement, note: string) =>
  h(
    'figure',
    { className: 'card chart' },
    h('figcaption', {}, h('strong', {}, heading), h('span', { className: 'muted' }, ` ${note}`)),
    h('div', { className: 'chart-box' }, c),
  );
const qualityCards = h(
  'div',
  { className: 'charts' },
  chartCard('Score distributions', canvases.histogram, 'Held-out scores; the dashed line is the threshold.'),
  chartCard('ROC curve', canvases.roc, 'Higher and further left is better.'),
  chartCard('Clusters', canvases.clusters, 'Positives in each kind (k-means cluster).'),
  chartCard('Runs', canvases.history, 'F1 and ROC AUC of each training run.'),
);
const historyGrid = h('vscode-data-grid', { 'aria-label': 'Training runs' });
const notTrained = h('p', { className: 'muted not-trained' });
const tryIt = new TryIt(async (file) => host.request('predict/image', { file: await readDroppedFile(file) }));

document
  .getElementById('app')!
  .append(
    h(
      'header',
      { className: 'toolbar' },
      h('h1', {}, 'Tagsmith training'),
      tagPicker,
      h(
        'vscode-button',
        { appearance: 'secondary', onclick: () => void run(host.request('panel/open', { panel: 'gallery', tag: selectedTag })) },
        'Sample gallery',
      ),
    ),
    notice.element,
    running,
    h(
      'main',
      { className: 'dashboard' },
      h(
        'section',
        { className: 'card summary', 'aria-label': 'Quality of the selected tag' },
        title,
        sentence,
        figures,
        confusion,
        trainForm.element,
        notTrained,
      ),
      qualityCards,
      h('section', { className: 'card history', 'aria-label': 'Training history' }, h('h2', {}, 'History'), historyGrid),
      tryIt.element,
    ),
  );

host.on('engine/changed', (next) => {
  snapshot = next;
  render();
});
host.on('panel/showTag', ({ tag }) => selectTag(tag));
host.ready();
void run(
  host.request('engine/snapshot', {}).then((s) => {
    snapshot = s;
    render();
  }),
);

function selectTag(tag: string): void {
  selectedTag = tag;
  host.saveState({ tag });
  render();
}

function render(): void {
  if ((!selectedTag || !snapshot.tags.some((t) => t.tag === selectedTag)) && snapshot.tags.length > 0) {
    selectedTag = (snapshot.tags.find((t) => t.trained) ?? snapshot.tags[0]).tag;
  }
  clear(
    tagPicker,
    snapshot.tags.map((t) => h('vscode-option', { value: t.tag, selected: t.tag === selectedTag }, `${t.tag}${t.trained ? '' : ' (not trained)'}`)),
  );
  (tagPicker as HTMLElement & { value: string }).value = selectedTag ?? '';
  clear(running, runningTasks(snapshot.tasks));

  const tag = snapshot.tags.find((t) => t.tag === selectedTag);
  const runs = snapshot.tasks.filter((t) => t.tag === selectedTag);
  const active = runs.find(isActiveTask);
  trainForm.update(tag?.options, active, Boolean(tag && hasEnoughSamples(tag)));
  title.textContent = tag ? `“${tag.tag}”` : 'No tags yet';
  const m = tag?.metrics;
  qualityCards.hidden = !m;
  notTrained.hidden = Boolean(m);
  notTrained.textContent = !tag
    ? 'Add positive and negative samples from the Explorer (right-click an image → Tagsmith), then train here.'
    : `Not trained yet: ${plural(tag.positives, 'positive')} and ${plural(tag.negatives, 'negative')} so far. Training needs ${samplesNeeded()}.`;
  if (m) {
    sentence.textContent = `${describeOutcome(m)}${tag!.stale ? ' Samples changed since this training: train again to use them.' : ''}`;
    clear(
      figures,
      [
        ['F1', m.f1.toFixed(3)],
        ['ROC AUC', m.rocAuc.toFixed(3)],
        ['Precision', percent(m.precision)],
        ['Recall', percent(m.recall)],
        ['Threshold', m.threshold.toFixed(3)],
        ['Cross-validation', `${m.folds} folds`],
      ].map(([k, v]) => h('div', { className: 'figure' }, h('dt', {}, k), h('dd', {}, v))),
    );
    clear(confusion, confusionTable(m.confusion));
  } else {
    sentence.textContent = '';
    clear(figures);
    clear(confusion);
  }
  renderHistory(historyGrid, runs);
  // Charts are rebuilt only when what they show changed, not on every progress tick.
  const key = JSON.stringify([selectedTag, m, runs.filter((r) => r.state === 'done').map((r) => r.task_id), document.body.className]);
  if (key !== drawn) {
    drawn = key;
    charts.render(m, runs);
  }
}

// A theme change re-reads the chart colours.
new MutationObserver(() => render()).observe(document.body, { attributes: true, attributeFilter: ['class'] });

async function run(work: Promise<unknown>): Promise<void> {
  try {
    await work;
  } catch (error) {
    notice.error((error as Error).message);
  }
}
