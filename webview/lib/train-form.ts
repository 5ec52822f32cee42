// The "Train" controls, shared by the gallery and the dashboard: clusters, the two score
// options, a button, and a progress ring with the stage while the tag trains.
import { CLUSTER_CHOICES, DEFAULT_TRAIN_OPTIONS, samplesNeeded } from '../../kernel/rules';
import type { TaskView, TrainOptions } from '../protocol';
import { h, percent } from './dom';

export class TrainForm {
  readonly element: HTMLElement;
  private readonly clusters = h('vscode-dropdown', { 'aria-label': 'Number of clusters', title: 'How many kinds of positive there are (k-means clusters)' });
  private readonly aesthetic = h('vscode-checkbox', {}, 'aesthetic score');
  private readonly stock = h('vscode-checkbox', {}, 'stock score');
  private readonly button = h('vscode-button', { appearance: 'primary' }, 'Train');
  private readonly progress = h('span', { className: 'train-progress', hidden: true, role: 'status' });

  constructor(onTrain: (options: TrainOptions) => void) {
    for (const k of CLUSTER_CHOICES) this.clusters.append(h('vscode-option', { value: String(k) }, `${k} cluster${k === 1 ? '' : 's'}`));
    this.button.addEventListener('click', () => onTrain(this.options));
    this.element = h(
      'div',
      { className: 'train-form', role: 'group', 'aria-label': 'Training options' },
      h('label', { className: 'inline-label' }, 'Clusters'),
      this.clusters,
      this.aesthetic,
      this.stock,
      this.button,
      this.progress,
    );
  }

  get options(): TrainOptions {
    return {
      num_clusters: Number((this.clusters as HTMLElement & { value: string }).value || DEFAULT_TRAIN_OPTIONS.num_clusters),
      apply_aesthetic_score: (this.aesthetic as HTMLElement & { checked: boolean }).checked,
      apply_stock_score: (this.stock as HTMLElement & { checked: boolean }).checked,
    };
  }

  /** Shows the tag's current options and whether a task of it runs. */
  update(options: TrainOptions | undefined, running: TaskView | undefined, canTrain: boolean): void {
    if (options && !this.element.matches(':focus-within')) {
      (this.clusters as HTMLElement & { value: string }).value = String(options.num_clusters);
      (this.aesthetic as HTMLElement & { checked: boolean }).checked = options.apply_aesthetic_score;
      (this.stock as HTMLElement & { checked: boolean }).checked = options.apply_stock_score;
    }
    this.button.toggleAttribute('disabled', Boolean(running) || !canTrain);
    this.button.title = canTrain ? 'Train this tag with these options' : `Add ${samplesNeeded()} first`;
    this.progress.hidden = !running;
    if (running)
      this.progress.replaceChildren(h('vscode-progress-ring', { 'aria-label': 'Training' }), ` ${running.stage ?? running.state} ${percent(running.progress)}`);
  }
}
