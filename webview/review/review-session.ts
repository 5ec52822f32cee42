// What the reviewer decided in this panel, and how to take it back: each keypress (Y, N or S,
// on one image or a selection) is one step on the undo stack, with what the host did for
// each image, so U puts the tag's samples back exactly as they were before that step. A
// step is marked at once (the keyboard moves on) and settled as the host saves each image.
// Pure (no DOM), so its rules are unit-tested.
import type { DecisionEffect, SampleType } from '../protocol';

export type Verdict = SampleType | 'skipped';

export interface Step {
  verdict: Verdict;
  /** The images decided on, each with what the host did (nothing for a skip). */
  items: { key: string; effect?: DecisionEffect }[];
}

export class ReviewSession {
  private readonly verdicts = new Map<string, Verdict>();
  private readonly steps: Step[] = [];
  /** Samples added since the queue was last read (its counter does not know them yet). */
  private addedSinceRead = 0;
  private counterAtRead = 0;

  verdictOf(key: string): Verdict | undefined {
    return this.verdicts.get(key);
  }

  /** Whether the image still needs a decision (never decided, or decided and undone). */
  isOpen(key: string): boolean {
    return !this.verdicts.has(key);
  }

  /** The queue was read again: its counter now includes everything decided so far. */
  queueRead(reviewedSinceTraining: number): void {
    this.counterAtRead = reviewedSinceTraining;
    this.addedSinceRead = 0;
  }

  /** Images added as samples since the tag was last trained: what "Train again" would learn from. */
  get reviewedSinceTraining(): number {
    return Math.max(0, this.counterAtRead + this.addedSinceRead);
  }

  /** Marks the images (only those still open) and puts the step on the stack; undefined if none was open. */
  record(verdict: Verdict, keys: string[]): Step | undefined {
    const open = keys.filter((key) => this.isOpen(key));
    if (open.length === 0) return undefined;
    const step: Step = { verdict, items: open.map((key) => ({ key })) };
    for (const key of open) this.verdicts.set(key, verdict);
    this.steps.push(step);
    return step;
  }

  /** The host saved one image of a step. */
  settle(step: Step, key: string, effect: DecisionEffect): void {
    const item = step.items.find((i) => i.key === key);
    if (!item) return;
    item.effect = effect;
    if (effect.kind === 'added') this.addedSinceRead++;
  }

  /** The host could not save one image of a step: it is open again, and not part of the step. */
  fail(step: Step, key: string): void {
    step.items = step.items.filter((i) => i.key !== key);
    this.verdicts.delete(key);
    const index = this.steps.indexOf(step);
    if (step.items.length === 0 && index >= 0) this.steps.splice(index, 1);
  }

  get canUndo(): boolean {
    return this.steps.length > 0;
  }

  /** Takes the last step off (its images are open again): the caller asks the host to undo each item's effect. */
  undo(): Step | undefined {
    const step = this.steps.pop();
    if (!step) return undefined;
    for (const item of step.items) this.verdicts.delete(item.key);
    return step;
  }

  /** The host has undone one effect; the counter follows what is saved, not what is asked. */
  undone(effect: DecisionEffect): void {
    if (effect.kind === 'added') this.addedSinceRead--;
  }

  /** Every decision so far (for a summary line). */
  get decided(): { positive: number; negative: number; skipped: number } {
    const counts = { positive: 0, negative: 0, skipped: 0 };
    for (const verdict of this.verdicts.values()) counts[verdict]++;
    return counts;
  }
}
