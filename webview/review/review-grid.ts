// The review panel's cards: large images with the tag's score (or how alike they are), the
// reviewer's mark once decided, a "changed" mark for calls the last training turned, and
// buttons for the mouse. Focus and selection follow the gallery's rules (click, Ctrl/Cmd,
// Shift, arrows, Space, Ctrl+A); the decision keys are the panel's (review.ts).
import type { DecisionTarget, SimilarTarget } from '../protocol';
import { clear, h } from '../lib/dom';
import { Selection } from '../lib/selection';
import type { ThumbnailLoader } from '../lib/thumbnail-loader';
import type { Verdict } from './review-session';

export interface ReviewItem {
  /** Unique in the panel: `scan:<scan>:<index>` or `sample:<id>`. */
  key: string;
  label: string;
  /** A scanned image's file (loaded from the host's URL) or a sample (its thumbnail). */
  image: { src: string; path: string } | { sampleId: string };
  score?: { value: number; threshold: number; applies: boolean };
  similarity?: number;
  /** The score the queue is ranked by, with the decisions since training (the engine's refit). */
  reviewScore?: number;
  /** The call changed when the tag was last trained. */
  changed?: boolean;
  /** What it already is, e.g. "positive of stripes". */
  note?: string;
  target: DecisionTarget;
  moreLike: SimilarTarget;
}

export interface ReviewGridActions {
  decide(keys: string[], verdict: Verdict): void;
  open(item: ReviewItem): void;
  moreLike(item: ReviewItem): void;
  verdictOf(key: string): Verdict | undefined;
  selectionChanged(): void;
}

/** A pointer that moved this recently is about to click: the cards up to it are not reordered. */
const POINTER_RESTS_MS = 1500;

const MARKS: Record<Verdict, string> = { positive: '✓ it is', negative: "✗ it isn't", skipped: '→ skipped' };

export class ReviewGrid {
  readonly element = h('div', { role: 'grid', className: 'review-grid', 'aria-multiselectable': 'true', 'aria-label': 'Images to review' });
  readonly selection = new Selection();
  private items: ReviewItem[] = [];
  private focusIndex = 0;
  /** The card under the pointer, and when the pointer last moved: a card about to be clicked is not moved. */
  private pointer: { key?: string; movedAt: number } = { movedAt: 0 };

  constructor(
    private readonly loader: ThumbnailLoader,
    private readonly actions: ReviewGridActions,
    private readonly tagName: () => string,
  ) {
    this.element.addEventListener('keydown', (e) => this.onKey(e));
    this.element.addEventListener('pointermove', (e) => {
      const cell = (e.target as HTMLElement).closest<HTMLElement>('.review-card');
      this.pointer = { key: cell?.dataset.key, movedAt: performance.now() };
    });
    this.element.addEventListener('pointerleave', () => (this.pointer = { movedAt: 0 }));
    this.element.addEventListener('focusin', (e) => {
      const cell = (e.target as HTMLElement).closest<HTMLElement>('.review-card');
      const index = cell ? this.cells().indexOf(cell) : -1;
      if (index >= 0) this.focusIndex = index;
    });
  }

  get all(): readonly ReviewItem[] {
    return this.items;
  }

  setItems(items: ReviewItem[], emptyText: string): void {
    this.items = items;
    this.selection.clear();
    this.selection.setOrder(items.map((i) => i.key));
    this.focusIndex = Math.max(
      0,
      items.findIndex((i) => !this.actions.verdictOf(i.key)),
    );
    clear(this.element, items.length === 0 ? h('p', { className: 'grid-empty' }, emptyText) : items.map((item) => this.card(item)));
    this.refresh();
  }

  append(items: ReviewItem[]): void {
    this.items = [...this.items, ...items];
    this.selection.setOrder(this.items.map((i) => i.key));
    this.element.querySelector('.grid-empty')?.remove();
    this.element.append(...items.map((item) => this.card(item)));
    this.refresh();
  }

  /**
   * The queue read again after a decision: its images go after the focused one, in their new
   * order. The focused image, everything before it and every image decided stay where they are
   * (their cards are not even moved, so focus and a key about to be pressed stay on the image
   * the reviewer is looking at), and so does everything up to a card the pointer has just moved
   * onto (a click about to land); cards already shown are reused, images loaded and all.
   */
  reorderAfterFocus(queue: ReviewItem[]): void {
    const cells = new Map(this.cells().map((cell) => [cell.dataset.key!, cell]));
    const pointed = performance.now() - this.pointer.movedAt < POINTER_RESTS_MS ? this.items.findIndex((i) => i.key === this.pointer.key) : -1;
    const keepThrough = Math.max(this.focusIndex, pointed);
    const kept = this.items.filter((item, i) => i <= keepThrough || this.actions.verdictOf(item.key));
    const keptKeys = new Set(kept.map((item) => item.key));
    const following = queue.filter((item) => !keptKeys.has(item.key));
    for (const item of this.items) if (!keptKeys.has(item.key)) cells.get(item.key)?.remove();
    if (following.length > 0) this.element.querySelector('.grid-empty')?.remove();
    this.element.append(...following.map((item) => cells.get(item.key) ?? this.card(item)));
    // The queue's fresher copy of each image kept (its score under the latest refit).
    const fresh = new Map(queue.map((item) => [item.key, item]));
    this.items = [...kept.map((item) => fresh.get(item.key) ?? item), ...following];
    this.selection.setOrder(this.items.map((i) => i.key));
    this.refresh();
  }

  /** The images a key acts on: the selection, else the focused image. */
  targets(): string[] {
    if (this.selection.ids.length > 0) return this.selection.ids;
    const focused = this.items[this.focusIndex];
    return focused ? [focused.key] : [];
  }

  /** Marks, selection and the roving tab stop, after a decision or an undo. */
  refresh(): void {
    for (const [i, cell] of this.cells().entries()) {
      const item = this.items[i];
      const verdict = this.actions.verdictOf(item.key);
      const selected = this.selection.has(item.key);
      cell.classList.toggle('selected', selected);
      cell.setAttribute('aria-selected', String(selected));
      cell.setAttribute('tabindex', i === this.focusIndex ? '0' : '-1');
      cell.dataset.verdict = verdict ?? '';
      cell.querySelector('.review-mark')!.textContent = verdict ? MARKS[verdict] : '';
      // Cards are reused across re-ranks: what the queue ranks by is written here, not at creation.
      cell.querySelector('.review-now')!.textContent = item.reviewScore === undefined ? '' : `now ${item.reviewScore.toFixed(2)}`;
    }
    this.actions.selectionChanged();
  }

  /** After a decision: the selection is spent, and focus goes to the next image still open. */
  advancePast(keys: string[]): void {
    this.selection.clear();
    const last = Math.max(...keys.map((k) => this.items.findIndex((i) => i.key === k)));
    const open = (i: number) => i >= 0 && i < this.items.length && !this.actions.verdictOf(this.items[i].key);
    let next = this.items.findIndex((_, i) => i > last && open(i));
    if (next < 0) next = this.items.findIndex((_, i) => open(i));
    this.refresh();
    if (next >= 0) this.focus(next);
  }

  /** After an undo: focus back on the first image taken back. */
  focusKey(key: string): void {
    const index = this.items.findIndex((i) => i.key === key);
    this.refresh();
    if (index >= 0) this.focus(index);
  }

  focusCurrent(): void {
    const cells = this.cells();
    cells[Math.min(this.focusIndex, cells.length - 1)]?.focus();
  }

  private cells(): HTMLElement[] {
    return [...this.element.querySelectorAll<HTMLElement>('.review-card')];
  }

  private focus(index: number): void {
    this.focusIndex = index;
    const cells = this.cells();
    for (const [i, cell] of cells.entries()) cell.setAttribute('tabindex', i === index ? '0' : '-1');
    cells[index]?.focus();
    cells[index]?.scrollIntoView({ block: 'nearest' });
  }

  private card(item: ReviewItem): HTMLElement {
    const img = h('img', { alt: item.label, draggable: 'false', loading: 'lazy' });
    if ('src' in item.image) img.src = item.image.src;
    else this.loader.attach(img, item.image.sampleId);
    img.addEventListener('error', () => img.classList.add('thumbnail-failed'));
    const button = (label: string, title: string, run: () => void, className = 'icon-button') =>
      h(
        'button',
        {
          className,
          title,
          'aria-label': `${title}: ${item.label}`,
          onclick: (e: Event) => {
            e.stopPropagation();
            run();
          },
        },
        label,
      );
    const context = item.moreLike;
    return h(
      'div',
      {
        role: 'gridcell',
        className: `review-card${item.changed ? ' changed' : ''}`,
        tabindex: -1,
        'aria-selected': 'false',
        'data-key': item.key,
        title: item.label,
        // VS Code's right-click menu for webviews: "More Like This" on this image.
        'data-vscode-context': JSON.stringify({ tagsmithImage: true, preventDefaultContextMenuItems: true, tag: this.tagName(), ...context }),
        onclick: (e: MouseEvent) => {
          // By key: a re-rank replaces the item objects while this card (and this handler) stays.
          const index = this.items.findIndex((i) => i.key === item.key);
          this.focusIndex = index;
          this.selection.click(index, { toggle: e.ctrlKey || e.metaKey, extend: e.shiftKey });
          this.refresh();
        },
        ondblclick: () => this.actions.open(item),
      },
      h(
        'div',
        { className: 'review-image' },
        img,
        h('span', { className: 'review-mark', 'aria-live': 'polite' }),
        item.changed ? h('span', { className: 'changed-badge', title: 'The call changed when the tag was last trained' }, 'changed') : null,
      ),
      h(
        'div',
        { className: 'review-meta' },
        h('span', { className: 'review-name' }, item.label),
        item.score ? scoreLine(item.score) : null,
        h('span', {
          className: 'review-now muted',
          title: 'The score the queue is ranked by: a refit with the decisions since training (the call stays the trained one)',
        }),
        item.similarity !== undefined ? h('span', { className: 'review-similarity' }, `${Math.round(item.similarity * 100)}% alike`) : null,
        item.note ? h('span', { className: 'muted review-note' }, item.note) : null,
      ),
      h(
        'div',
        { className: 'review-actions' },
        button('Y', 'It is (add as positive)', () => this.actions.decide(this.actedOn(item), 'positive'), 'icon-button yes'),
        button('N', "It isn't (add as negative)", () => this.actions.decide(this.actedOn(item), 'negative'), 'icon-button no'),
        button('S', 'Skip', () => this.actions.decide(this.actedOn(item), 'skipped')),
        button('≈', 'More like this', () => this.actions.moreLike(item)),
      ),
    );
  }

  /** A card's button acts on the selection when the card is part of it, else on the card. */
  private actedOn(item: ReviewItem): string[] {
    return this.selection.has(item.key) ? this.selection.ids : [item.key];
  }

  private onKey(e: KeyboardEvent): void {
    const cells = this.cells();
    if (cells.length === 0) return;
    const columns = Math.max(1, Math.round(this.element.clientWidth / (cells[0].offsetWidth + 12)));
    const step: Record<string, number> = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns, Home: -Infinity, End: Infinity };
    if (e.key in step) {
      e.preventDefault();
      const next = Math.max(0, Math.min(cells.length - 1, this.focusIndex + step[e.key]));
      if (e.shiftKey && this.selection.ids.length === 0) this.selection.click(this.focusIndex);
      this.focus(next);
      if (e.shiftKey) this.selection.click(next, { extend: true });
      this.refresh();
    } else if (e.key === ' ') {
      e.preventDefault();
      this.selection.click(this.focusIndex, { toggle: true });
      this.refresh();
    } else if (e.key === 'a' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      this.selection.selectAll();
      this.refresh();
    } else if (e.key === 'Enter') {
      const item = this.items[this.focusIndex];
      if (item) this.actions.open(item);
    } else if (e.key === 'Escape') {
      this.selection.clear();
      this.refresh();
    }
  }
}

function scoreLine(score: { value: number; threshold: number; applies: boolean }): HTMLElement {
  return h(
    'span',
    { className: `review-score ${score.applies ? 'applies' : 'not-applies'}`, title: `The tag's score; it applies from ${score.threshold.toFixed(2)}` },
    `${score.value.toFixed(2)} ${score.applies ? '≥' : '<'} ${score.threshold.toFixed(2)} · ${score.applies ? 'applies' : "doesn't apply"}`,
  );
}
