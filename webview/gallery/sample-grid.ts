// One grid of a tag's samples (positives or negatives): paged, lazily loaded thumbnails,
// multi-select by mouse and keyboard, and a drop target that adds images to this side.
import type { SampleType, SampleView } from '../protocol';
import { clear, h, plural } from '../lib/dom';
import { acceptDrops } from '../lib/files';
import { Selection } from '../lib/selection';
import type { ThumbnailLoader } from '../lib/thumbnail-loader';

const PAGE = 120;

export interface SampleGridActions {
  open(sample: SampleView): void;
  move(ids: string[], to: SampleType): void;
  remove(ids: string[]): void;
  drop(transfer: DataTransfer, type: SampleType): void;
  selectionChanged(): void;
  /** "More like this": the review panel with the images most like this sample. */
  moreLike(sample: SampleView): void;
}

export class SampleGrid {
  readonly element: HTMLElement;
  readonly selection = new Selection();
  private readonly heading = h('h3');
  private readonly grid = h('div', { role: 'grid', className: 'sample-grid', 'aria-multiselectable': 'true' });
  private readonly more = h('vscode-button', { appearance: 'secondary', className: 'show-more' });
  private samples: SampleView[] = [];
  private shown = PAGE;
  private focusIndex = 0;

  constructor(
    readonly type: SampleType,
    private readonly loader: ThumbnailLoader,
    private readonly actions: SampleGridActions,
  ) {
    this.grid.setAttribute('aria-label', `${type === 'positive' ? 'Positive' : 'Negative'} samples`);
    this.more.addEventListener('click', () => {
      this.shown += PAGE;
      this.render();
    });
    this.grid.addEventListener('keydown', (e) => this.onKey(e));
    this.grid.addEventListener('focusin', (e) => {
      const cell = (e.target as HTMLElement).closest<HTMLElement>('.sample');
      const index = cell ? [...this.grid.querySelectorAll('.sample')].indexOf(cell) : -1;
      if (index >= 0) this.focusIndex = index;
    });
    this.element = h('section', { className: `grid-section ${type}`, 'data-type': type }, this.heading, this.grid, this.more);
    acceptDrops(this.element, (transfer) => this.actions.drop(transfer, type));
  }

  setSamples(samples: SampleView[]): void {
    // Same samples in the same order, flagged the same: only the selection needs drawing.
    const flag = (s: SampleView) => JSON.stringify(s.suspicion ?? null);
    const same = samples.length === this.samples.length && samples.every((s, i) => s.id === this.samples[i].id && flag(s) === flag(this.samples[i]));
    this.samples = samples;
    this.selection.setOrder(samples.map((s) => s.id));
    if (!same) this.render();
    else this.renderSelection();
  }

  /** Renders the samples; the first page at once, more on request, so 2,000 samples stay smooth. */
  render(): void {
    const title = this.type === 'positive' ? 'Positives' : 'Negatives';
    this.heading.textContent = `${title} (${this.samples.length})`;
    const visible = this.samples.slice(0, this.shown);
    clear(
      this.grid,
      visible.length === 0
        ? h(
            'p',
            { className: 'grid-empty' },
            `No ${this.type} samples yet. Drop images here, or right-click images in the Explorer → Tagsmith: Add as ${this.type === 'positive' ? 'Positive' : 'Negative'} Sample…`,
          )
        : visible.map((s, i) => this.cell(s, i)),
    );
    this.more.hidden = this.samples.length <= this.shown;
    this.more.textContent = `Show ${Math.min(PAGE, this.samples.length - this.shown)} more of ${this.samples.length - this.shown}`;
    this.renderSelection();
  }

  private cell(sample: SampleView, index: number): HTMLElement {
    const name = sample.fileName ?? sample.id.slice(0, 12);
    const img = h('img', { alt: name, width: 128, height: 128, draggable: 'false' });
    this.loader.attach(img, sample.id);
    const other: SampleType = this.type === 'positive' ? 'negative' : 'positive';
    const stop = (run: () => void) => (e: Event) => {
      e.stopPropagation();
      run();
    };
    const suspicion = sample.suspicion && describeSuspicion(sample.type, sample.suspicion);
    return h(
      'div',
      {
        role: 'gridcell',
        className: `sample${suspicion ? ' suspicious' : ''}`,
        tabindex: index === this.focusIndex ? 0 : -1,
        'data-sample-id': sample.id,
        'aria-selected': 'false',
        title: suspicion ? `${name}: ${suspicion.text} M moves it to the ${other}s, Delete removes it.` : name,
        // VS Code's right-click menu for webviews: "More Like This" on this sample.
        'data-vscode-context': JSON.stringify({ tagsmithImage: true, preventDefaultContextMenuItems: true, sampleId: sample.id, label: name }),
        onclick: (e: MouseEvent) => {
          this.focusIndex = index;
          this.selection.click(index, { toggle: e.ctrlKey || e.metaKey, extend: e.shiftKey });
          this.renderSelection();
        },
        ondblclick: () => this.actions.open(sample),
      },
      img,
      suspicion ? h('span', { className: 'suspicion-badge', 'aria-label': `Suspicious: ${suspicion.text}` }, suspicion.badge) : null,
      h('span', { className: 'sample-name' }, name),
      h(
        'span',
        { className: 'sample-actions' },
        h(
          'button',
          { className: 'icon-button', 'aria-label': `Open ${name}`, title: 'Open the original', onclick: stop(() => this.actions.open(sample)) },
          '⤢',
        ),
        h(
          'button',
          {
            className: 'icon-button',
            'aria-label': `Move ${name} to ${other}s`,
            title: `Move to ${other}s`,
            onclick: stop(() => this.actions.move([sample.id], other)),
          },
          '⇄',
        ),
        h('button', { className: 'icon-button', 'aria-label': `Remove ${name}`, title: 'Remove', onclick: stop(() => this.actions.remove([sample.id])) }, '✕'),
        h(
          'button',
          { className: 'icon-button', 'aria-label': `More like ${name}`, title: 'More like this', onclick: stop(() => this.actions.moreLike(sample)) },
          '≈',
        ),
      ),
    );
  }

  renderSelection(): void {
    for (const cell of this.grid.querySelectorAll<HTMLElement>('.sample')) {
      const selected = this.selection.has(cell.dataset.sampleId!);
      cell.classList.toggle('selected', selected);
      cell.setAttribute('aria-selected', String(selected));
    }
    this.actions.selectionChanged();
  }

  describeSelection(): string {
    return plural(this.selection.ids.length, this.type === 'positive' ? 'positive' : 'negative');
  }

  /** Arrow keys move focus, Shift+arrows extend, Space toggles, Enter opens, Delete removes, M moves. */
  private onKey(e: KeyboardEvent): void {
    const cells = [...this.grid.querySelectorAll<HTMLElement>('.sample')];
    if (cells.length === 0) return;
    const columns = Math.max(1, Math.round(this.grid.clientWidth / (cells[0].offsetWidth + 8)));
    const step: Record<string, number> = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns, Home: -Infinity, End: Infinity };
    const other: SampleType = this.type === 'positive' ? 'negative' : 'positive';
    if (e.key in step) {
      e.preventDefault();
      const next = Math.max(0, Math.min(cells.length - 1, this.focusIndex + step[e.key]));
      // Shift+arrow with nothing selected starts the range at the cell the focus leaves.
      if (e.shiftKey && this.selection.ids.length === 0) this.selection.click(this.focusIndex);
      this.focus(cells, next);
      if (e.shiftKey) this.selection.click(next, { extend: true });
      this.renderSelection();
    } else if (e.key === ' ') {
      e.preventDefault();
      this.selection.click(this.focusIndex, { toggle: true });
      this.renderSelection();
    } else if (e.key === 'a' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      this.selection.selectAll();
      this.renderSelection();
    } else if (e.key === 'Enter') {
      this.actions.open(this.samples[this.focusIndex]);
    } else if (e.key === 'Delete' || e.key === 'Backspace') {
      const ids = this.selection.ids.length > 0 ? this.selection.ids : [this.samples[this.focusIndex].id];
      this.actions.remove(ids);
    } else if (e.key === 'm') {
      const ids = this.selection.ids.length > 0 ? this.selection.ids : [this.samples[this.focusIndex].id];
      this.actions.move(ids, other);
    } else if (e.key === 'Escape') {
      this.selection.clear();
      this.renderSelection();
    }
  }

  private focus(cells: HTMLElement[], index: number): void {
    cells[this.focusIndex]?.setAttribute('tabindex', '-1');
    this.focusIndex = index;
    cells[index].setAttribute('tabindex', '0');
    cells[index].focus();
  }
}

/** Why the sample's label looks wrong, in words, and its badge. */
export function describeSuspicion(type: SampleType, suspicion: NonNullable<SampleView['suspicion']>): { badge: string; text: string } {
  const parts: string[] = [];
  if (suspicion.heldOutScore !== undefined) {
    parts.push(`trained without it, the tag scored it ${suspicion.heldOutScore.toFixed(2)}: it looks like a ${type === 'positive' ? 'negative' : 'positive'}.`);
  }
  if (suspicion.duplicateOf)
    parts.push(
      `nearly the same picture as a ${type === 'positive' ? 'negative' : 'positive'} (${suspicion.duplicateOf.slice(0, 12)}): one of the two labels is probably wrong.`,
    );
  const text = parts.map((p) => p[0].toUpperCase() + p.slice(1)).join(' ');
  const badge = suspicion.heldOutScore !== undefined ? `⚠ ${suspicion.heldOutScore.toFixed(2)}` : '⚠ duplicate';
  return { badge, text };
}
