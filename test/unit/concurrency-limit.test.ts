// Bounded concurrency for work whose memory grows with what is in flight (re-embedding stored
// images, the CLI's and the scans' reading and embedding): never more than the limit at once,
// results in input order, a failure an outcome rather than a crash. Tasks finish in an order
// the test scrambles by yielding to the event loop, not by waiting on the clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { concurrencyLimit, settledInOrder } from '../../kernel/engine/concurrency-limit';

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
    assert.ok(started.length < 20, `started ${started.length} of 20`);
    assert.equal(finished, started.length, 'nothing still running behind the reader');
  });
});
