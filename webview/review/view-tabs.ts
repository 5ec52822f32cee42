// The review panel's three views of a tag's calls over the scan: the images that would teach
// it most, those it applies to, those it doesn't (to catch confident mistakes either way).
import { h } from '../lib/dom';
import { REVIEW_VIEWS, type ReviewView } from '../protocol';

const LABELS: Record<ReviewView, string> = { informative: 'Most informative', applies: 'Applies', 'not-applies': "Doesn't apply" };

export class ViewTabs {
  readonly element = h('div', { role: 'tablist', className: 'view-tabs', 'aria-label': 'Which images' });

  constructor(
    private current: ReviewView,
    onChange: (view: ReviewView) => void,
  ) {
    for (const view of REVIEW_VIEWS) {
      this.element.append(
        h(
          'button',
          {
            role: 'tab',
            className: 'view-tab',
            'data-view': view,
            'aria-selected': String(view === current),
            tabindex: view === current ? 0 : -1,
            onclick: () => {
              if (view === this.current) return;
              this.current = view;
              this.render();
              onChange(view);
            },
          },
          LABELS[view],
        ),
      );
    }
  }

  private render(): void {
    for (const tab of this.element.querySelectorAll<HTMLElement>('[role=tab]')) {
      const selected = tab.dataset.view === this.current;
      tab.setAttribute('aria-selected', String(selected));
      tab.tabIndex = selected ? 0 : -1;
    }
  }
}
