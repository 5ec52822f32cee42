// The list of tags on the left of the gallery: counts, trained or not, last F1/AUC, and a
// warning when samples changed since the last training. Arrow keys move between tags.
import type { TagSummary } from '../protocol';
import { clear, h } from '../lib/dom';

export class TagList {
  readonly element = h('div', { role: 'listbox', className: 'tag-list', 'aria-label': 'Tags', tabindex: 0 });

  constructor(private readonly onSelect: (tag: string) => void) {
    this.element.addEventListener('keydown', (e) => {
      const items = [...this.element.querySelectorAll<HTMLElement>('[role=option]')];
      const current = items.findIndex((i) => i.getAttribute('aria-selected') === 'true');
      const next = e.key === 'ArrowDown' ? current + 1 : e.key === 'ArrowUp' ? current - 1 : undefined;
      if (next === undefined || items.length === 0) return;
      e.preventDefault();
      const item = items[Math.max(0, Math.min(items.length - 1, next))];
      this.onSelect(item.dataset.tag!);
    });
  }

  render(tags: readonly TagSummary[], selected: string | undefined, filter: string): void {
    const shown = tags.filter((t) => t.tag.toLowerCase().includes(filter.toLowerCase()));
    clear(
      this.element,
      shown.length === 0
        ? h('p', { className: 'muted' }, tags.length === 0 ? 'No tags yet.' : 'No tag matches the filter.')
        : shown.map((t) => this.item(t, t.tag === selected)),
    );
    if (selected) this.element.setAttribute('aria-activedescendant', `tag-${cssId(selected)}`);
  }

  private item(t: TagSummary, selected: boolean): HTMLElement {
    const status = !t.trained
      ? h('span', { className: 'tag-status muted' }, 'not trained')
      : h('span', { className: 'tag-status' }, `F1 ${t.metrics!.f1.toFixed(2)} · AUC ${t.metrics!.rocAuc.toFixed(2)}`);
    return h(
      'div',
      {
        role: 'option',
        id: `tag-${cssId(t.tag)}`,
        className: `tag-item${selected ? ' selected' : ''}`,
        'aria-selected': String(selected),
        'data-tag': t.tag,
        onclick: () => this.onSelect(t.tag),
      },
      h('span', { className: 'tag-name' }, t.tag),
      h('span', { className: 'tag-counts', title: `${t.positives} positive and ${t.negatives} negative samples` }, `+${t.positives} −${t.negatives}`),
      status,
      t.trained && t.stale
        ? h('span', { className: 'tag-stale', title: 'Samples changed since the last training: train again to use them.' }, '⚠ samples changed')
        : null,
      t.retrainReason ? h('span', { className: 'tag-stale', title: t.retrainReason }, '⚠ train again') : null,
    );
  }
}

const cssId = (tag: string) => Array.from(tag, (c) => (/[\w-]/.test(c) ? c : `_${c.codePointAt(0)}`)).join('');
