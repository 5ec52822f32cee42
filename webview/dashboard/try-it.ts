// "Try it": drop or pick an image and see its base scores (with their components), the objects
// the keywords model found, and every custom tag's score as a bar against that tag's threshold.
import { keywordList } from '../../kernel/scores/keywords-text';
import type { Prediction } from '../protocol';
import { clear, h, percent } from '../lib/dom';
import { acceptDrops } from '../lib/files';

export class TryIt {
  readonly element: HTMLElement;
  private readonly results = h('div', { className: 'try-results', 'aria-live': 'polite' });
  private readonly preview = h('img', { className: 'try-preview', alt: '', hidden: true });

  constructor(private readonly predict: (file: File) => Promise<Prediction>) {
    const input = h('input', { type: 'file', accept: 'image/*', id: 'try-file', className: 'visually-hidden' });
    input.addEventListener('change', () => input.files?.[0] && void this.run(input.files[0]));
    const zone = h(
      'div',
      {
        className: 'drop-zone',
        tabindex: 0,
        role: 'button',
        'aria-label': 'Choose or drop an image to score',
        onclick: () => input.click(),
        onkeydown: (e: KeyboardEvent) => (e.key === 'Enter' || e.key === ' ') && input.click(),
      },
      'Drop an image here, or click to choose one.',
    );
    acceptDrops(zone, (transfer) => transfer.files[0] && void this.run(transfer.files[0]));
    this.element = h(
      'section',
      { className: 'card try-it', 'aria-label': 'Try it' },
      h('h2', {}, 'Try it'),
      input,
      zone,
      h('div', { className: 'try-body' }, this.preview, this.results),
    );
  }

  private async run(file: File): Promise<void> {
    clear(this.results, h('vscode-progress-ring', { 'aria-label': 'Scoring' }));
    this.preview.src = URL.createObjectURL(file);
    this.preview.hidden = false;
    this.preview.alt = file.name;
    try {
      this.show(file.name, await this.predict(file));
    } catch (error) {
      clear(this.results, h('p', { className: 'error' }, (error as Error).message));
    }
  }

  private show(name: string, p: Prediction): void {
    const custom = Object.entries(p.custom).sort((a, b) => b[1].score - a[1].score);
    const nsfwTop = Object.entries(p.base.nsfw).sort((a, b) => b[1] - a[1])[0];
    clear(
      this.results,
      h('h3', {}, name),
      h(
        'div',
        { className: 'bars', role: 'list', 'aria-label': 'Custom tags' },
        custom.length === 0 ? h('p', { className: 'muted' }, 'No trained tags yet.') : custom.map(([tag, s]) => bar(tag, s.score, s.threshold, s.label)),
      ),
      h('h3', {}, 'Base scores'),
      h(
        'div',
        { className: 'bars', role: 'list', 'aria-label': 'Base scores' },
        bar(`aesthetic`, p.base.aesthetic.score, undefined, undefined, p.base.aesthetic.components),
        bar(`stock`, p.base.stock.score, undefined, undefined, p.base.stock.components),
        nsfwTop ? bar(`nsfw: ${nsfwTop[0]}`, nsfwTop[1]) : null,
      ),
      ...keywordBars(p),
    );
  }
}

/** One bar per object found ("person ×2" at its best confidence); nothing when the engine has no keywords model. */
function keywordBars(p: Prediction): HTMLElement[] {
  if (!p.base.keywords) return [];
  const found = keywordList(p.base.keywords);
  return [
    h('h3', {}, 'Keywords'),
    h(
      'div',
      { className: 'bars', role: 'list', 'aria-label': 'Keywords' },
      found.length === 0 ? h('p', { className: 'muted' }, 'No objects found.') : found.map((k) => bar(k.count > 1 ? `${k.name} ×${k.count}` : k.name, k.score)),
    ),
  ];
}

function bar(label: string, score: number, threshold?: number, yes?: boolean, components?: Record<string, number>): HTMLElement {
  const verdict = yes === undefined ? '' : yes ? ' — yes' : ' — no';
  const fill = h('div', { className: `bar-fill${yes ? ' yes' : ''}` });
  fill.style.width = percent(score);
  const track = h('div', { className: 'bar-track' }, fill);
  if (threshold !== undefined) {
    const mark = h('div', { className: 'bar-threshold', title: `threshold ${threshold.toFixed(2)}` });
    mark.style.left = percent(threshold);
    track.append(mark);
  }
  return h(
    'div',
    {
      className: 'bar',
      role: 'listitem',
      'aria-label': `${label}: ${score.toFixed(2)}${threshold === undefined ? '' : `, threshold ${threshold.toFixed(2)}`}${verdict}`,
    },
    h('span', { className: 'bar-label' }, label),
    track,
    h('span', { className: 'bar-value' }, `${score.toFixed(2)}${verdict}`),
    components
      ? h(
          'span',
          { className: 'bar-components muted' },
          Object.entries(components)
            .map(([k, v]) => `${k} ${v.toFixed(2)}`)
            .join(' · '),
        )
      : null,
  );
}
