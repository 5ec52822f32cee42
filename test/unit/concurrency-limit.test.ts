// Bounded concurrency for work whose memory grows with what is in flight (re-embedding stored
// images, the CLI's and the scans' reading and embedding): never more than the limit at once,
// results in input order, a failure an outcome rather than a crash. Tasks finish in an order
// the test scrambles by yielding to the event loop, not by waiting on the clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { concurrencyLimit, settledInOrder, weightedLimit } from '../../kernel/engine/concurrency-limit';

/** Lets the event loop turn `times` times: later tasks can overtake earlier ones. */
async function turns(times: number): Promise<void> {
  for (let i = 0; i < times; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe('concurrencyLimit', () => {
  it('never runs more than the limit at once and keeps the results in order', async () => {
    let running = 0;
    let most = 0;
    const limit = concurrencyLimit(2);
    const results = await Promise.all(
      Array.from({ length: 25 }, (_, n) =>
        limit(async () => {
          most = Math.max(most, ++running);
          await turns(n % 3);
          running--;
          return n * n;
        }),
      ),
    );
    assert.equal(most, 2);
    assert.deepEqual(
      results,
      Array.from({ length: 25 }, (_, i) => i * i),
    );
  });
});

describe('weightedLimit', () => {
  it('keeps what runs within its capacity, starts tasks in the order they asked, and runs an oversized one alone', async () => {
    const capacity = 10;
    const limit = weightedLimit(capacity);
    let held = 0;
    let most = 0;
    const started: number[] = [];
    const alone: boolean[] = [];
    const weights = [6, 6, 3, 25, 1, 4, 5, 9, 2, 7];
    await Promise.all(
      weights.map((weight, n) =>
        limit(weight, async () => {
          started.push(n);
          held += weight;
          most = Math.max(most, held);
          if (weight > capacity) alone.push(held === weight);
          await turns((n * 7) % 4);
          held -= weight;
        }),
      ),
    );
    assert.ok(most <= 25, 'nothing runs beside the oversized task');
    assert.deepEqual(started, [...weights.keys()], 'in the order asked: a light task does not overtake a heavy one waiting for room');
    assert.deepEqual(alone, [true]);
  });

  it('never holds more than its capacity with tasks that fit', async () => {
    const limit = weightedLimit(10);
    let held = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 30 }, (_, n) =>
        limit(1 + (n % 6), async () => {
          held += 1 + (n % 6);
          most = Math.max(most, held);
          await turns(n % 3);
          held -= 1 + (n % 6);
        }),
      ),
    );
    assert.ok(most <= 10, `held ${most}`);
    assert.ok(most >= 7, 'more than one task at a time');
  });
});

describe('settledInOrder', () => {
  it('yields every outcome in input order, a failure as an outcome, with at most the limit running', async () => {
    let running = 0;
    let most = 0;
    const outcomes: string[] = [];
    for await (const outcome of settledInOrder(
      Array.from({ length: 12 }, (_, n) => n),
      3,
      async (n) => {
        most = Math.max(most, ++running);
        await turns((12 - n) % 4);
        running--;
        if (n === 4) throw new Error(`bad ${n}`);
        return n;
      },
    )) {
      outcomes.push(outcome.ok ? String(outcome.value) : (outcome.error as Error).message);
    }
    assert.deepEqual(outcomes, ['0', '1', '2', '3', 'bad 4', '5', '6', '7', '8', '9', '10', '11']);
    assert.equal(most, 3);
  });

  it('starts nothing more once its reader stops, and returns when what was started has finished', async () => {
    const started: number[] = [];
    let finished = 0;
    for await (const outcome of settledInOrder(
      Array.from({ length: 20 }, (_, n) => n),
      2,
      async (n) => {
        started.push(n);
        await turns(2);
        finished++;
        return n;
      },
    )) {
      if (outcome.ok && outcome.value === 1) break;
    }
    // 0 and 1, and the two that took their slots; not 4, which was lined up behind them waiting for one.
    assert.ok(started.length <= 4, `started ${started.join(', ')}: a task waiting for a slot ran after the reader stopped`);
    assert.equal(finished, started.length, 'nothing still running behind the reader');
  });
});
