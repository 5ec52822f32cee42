// The review panel's record of decisions: what U takes back, and the counter of reviews since
// training, which follows what the host has saved.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReviewSession } from '../../webview/review/review-session';

describe('review session', () => {
  it('marks only open images, and undoes one step at a time, newest first', () => {
    const session = new ReviewSession();
    session.queueRead(3);
    const yes = session.record('positive', ['a', 'b'])!;
    session.settle(yes, 'a', { kind: 'added', sampleId: 'sa' });
    session.settle(yes, 'b', { kind: 'none' });
    assert.equal(session.reviewedSinceTraining, 4, 'an image that already was a positive adds nothing');
    assert.equal(session.record('negative', ['a']), undefined, 'a decided image is not decided again');
    const skip = session.record('skipped', ['b', 'c'])!;
    assert.deepEqual(
      skip.items.map((i) => i.key),
      ['c'],
    );
    assert.deepEqual(session.decided, { positive: 2, negative: 0, skipped: 1 });

    assert.equal(session.undo(), skip);
    assert.ok(session.isOpen('c'));
    const undone = session.undo()!;
    assert.deepEqual(
      undone.items.map((i) => i.effect),
      [{ kind: 'added', sampleId: 'sa' }, { kind: 'none' }],
    );
    assert.equal(session.reviewedSinceTraining, 4, 'the counter waits for the host to undo');
    for (const item of undone.items) session.undone(item.effect!);
    assert.equal(session.reviewedSinceTraining, 3);
    assert.ok(session.isOpen('a') && session.isOpen('b'));
    assert.equal(session.canUndo, false);
  });

  it('reopens an image the host could not save, and drops a step left empty', () => {
    const session = new ReviewSession();
    const step = session.record('negative', ['a'])!;
    session.fail(step, 'a');
    assert.ok(session.isOpen('a'));
    assert.equal(session.canUndo, false);
  });

  it('takes the counter from the queue when it is read again', () => {
    const session = new ReviewSession();
    const step = session.record('positive', ['a'])!;
    session.settle(step, 'a', { kind: 'added', sampleId: 'sa' });
    assert.equal(session.reviewedSinceTraining, 1);
    session.queueRead(1); // the engine counts it now
    assert.equal(session.reviewedSinceTraining, 1);
    session.undo();
    session.undone({ kind: 'added', sampleId: 'sa' });
    assert.equal(session.reviewedSinceTraining, 0, "undone after the read: the engine's count less one");
  });
});
