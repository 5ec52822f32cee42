// Which samples of a grid are selected, with the usual rules: click selects one, Ctrl/Cmd
// toggles, Shift extends from the anchor. Pure, so its rules are unit-tested.
export class Selection {
  private readonly selected = new Set<string>();
  private anchor?: number;

  constructor(private order: string[] = []) {}

  /** The grid's items changed: keep what is still there. */
  setOrder(order: string[]): void {
    this.order = order;
    const present = new Set(order);
    for (const id of [...this.selected]) if (!present.has(id)) this.selected.delete(id);
    if (this.anchor !== undefined && this.anchor >= order.length) this.anchor = undefined;
  }

  click(index: number, modifiers: { toggle?: boolean; extend?: boolean } = {}): void {
    const id = this.order[index];
    if (id === undefined) return;
    if (modifiers.extend && this.anchor !== undefined) {
      if (!modifiers.toggle) this.selected.clear();
      const [from, to] = this.anchor < index ? [this.anchor, index] : [index, this.anchor];
      for (let i = from; i <= to; i++) this.selected.add(this.order[i]);
      return;
    }
    if (modifiers.toggle) {
      if (this.selected.has(id)) this.selected.delete(id);
      else this.selected.add(id);
    } else {
      this.selected.clear();
      this.selected.add(id);
    }
    this.anchor = index;
  }

  selectAll(): void {
    for (const id of this.order) this.selected.add(id);
  }

  clear(): void {
    this.selected.clear();
    this.anchor = undefined;
  }

  has(id: string): boolean {
    return this.selected.has(id);
  }

  /** Selected ids in grid order. */
  get ids(): string[] {
    return this.order.filter((id) => this.selected.has(id));
  }
}
