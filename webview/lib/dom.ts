// A small element builder: enough to keep view code declarative without a framework.
type Child = Node | string | null | undefined | false;
// Each event handler takes its own event type (a MouseEvent, a KeyboardEvent…).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Attributes = Record<string, string | number | boolean | undefined | ((event: any) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes?: Attributes, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K];
export function h(tag: string, attributes?: Attributes, ...children: (Child | Child[])[]): HTMLElement;
export function h(tag: string, attributes: Attributes = {}, ...children: (Child | Child[])[]): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') element.addEventListener(name.replace(/^on/, '').toLowerCase(), value);
    else if (name === 'className') element.className = String(value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child);
  }
  return element;
}

export function clear(element: Element, ...children: (Child | Child[])[]): void {
  element.replaceChildren(...children.flat().filter((c): c is Node | string => c !== null && c !== undefined && c !== false));
}

export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
export const percent = (x: number) => `${Math.round(x * 100)}%`;
