// Similarity search over feature rows (kernel/ml/similarity.ts): "more like this" and
// near-duplicates across two sets, on random rows whose right answers are known.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../../kernel/ml/random';
import { crossPairsAbove, nearestRows, prepareRows, row } from '../../kernel/ml/similarity';

describe('similarity search', () => {
  const dim = 64;
  const random = seededRandom(3);
  const base = Float32Array.from({ length: 200 * dim }, () => random());
  it('finds a slightly changed copy of a row first, and itself when not excluded', () => {
    const prepared = prepareRows(base, dim);
    const query = Float32Array.from(base.subarray(17 * dim, 18 * dim), (v) => v * 1.01 + 0.001);
    const [first] = nearestRows(row(prepareRows(query, dim), dim, 0), prepared, dim, 5);
    assert.equal(first.index, 17);
    assert.ok(first.similarity > 0.999);
    const others = nearestRows(row(prepared, dim, 17), prepared, dim, 3, (i) => i === 17);
    assert.equal(others.length, 3);
    assert.ok(others.every((n) => n.index !== 17 && n.similarity < first.similarity));
    assert.ok(others[0].similarity >= others[1].similarity && others[1].similarity >= others[2].similarity);
  });

  it('pairs near-duplicates across two sets, and nothing else above a high threshold', () => {
    const a = prepareRows(base.subarray(0, 10 * dim), dim);
    const copy = Float32Array.from(base.subarray(3 * dim, 4 * dim));
    copy[0] += 0.01;
    const b = prepareRows(Float32Array.from([...base.subarray(100 * dim, 105 * dim), ...copy]), dim);
    const pairs = crossPairsAbove(a, b, dim, 0.99);
    assert.deepEqual(
      pairs.map((p) => [p.a, p.b]),
      [[3, 5]],
    );
  });
});
