// A one-line message under the toolbar: what just happened, an error, or "Undo".
import { clear, h } from './dom';

export class Notice {
  readonly element = h('div', { className: 'notice', role: 'status', hidden: true });
  private timer?: ReturnType<typeof setTimeout>;

  show(text: string, action?: { label: string; run: () => void }, sticky = false): void {
    clearTimeout(this.timer);
    this.element.classList.remove('error');
    clear(
      this.element,
      h('span', {}, text),
      action
        ? h(
            'vscode-button',
            {
              appearance: 'secondary',
              onclick: () => {
                this.hide();
                action.run();
              },
            },
            action.label,
          )
        : null,
    );
    this.element.hidden = false;
    if (!sticky) this.timer = setTimeout(() => this.hide(), action ? 15_000 : 6_000);
  }

  error(text: string): void {
    clearTimeout(this.timer);
    this.element.classList.add('error');
    clear(this.element, h('span', {}, text), h('vscode-button', { appearance: 'icon', 'aria-label': 'Dismiss', onclick: () => this.hide() }, '✕'));
    this.element.hidden = false;
  }

  hide(): void {
    this.element.hidden = true;
  }
}
