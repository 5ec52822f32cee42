// The status-bar item's words for a view of the engine (extension/logic/status-bar-text.ts):
// its state, its tags, and the task training now, whoever started it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TaskView } from '../../kernel/client/tagsmith-client';
import { statusBarText } from '../../extension/logic/status-bar-text';

describe("the status bar's words", () => {
  const task = (state: TaskView['state'], tag: string, progress = 0.5) => ({ state, tag, progress, stage: 'cross-validation', task_id: tag }) as TaskView;
  const tagSummary = (tag: string, trained: boolean) => ({ tag, trained, positives: 2, negatives: 2, stale: false });

  it("names the engine's state, its tags, and the task training now", () => {
    const ready = { state: 'ready', url: 'http://127.0.0.1:5000' } as const;
    assert.deepEqual(statusBarText({ health: { state: 'starting' } }), {
      text: '$(loading~spin) Tagsmith: starting',
      tooltip: 'The Tagsmith engine is starting.',
    });
    assert.equal(statusBarText({ health: ready }).text, '$(tag) Tagsmith', 'not read yet');
    const many = Array.from({ length: 12 }, (_, i) => tagSummary(`t${i}`, i % 2 === 0));
    const tagged = statusBarText({ health: ready, snapshot: { tags: many, tasks: [task('done', 't0')] } });
    assert.equal(tagged.text, '$(tag) Tagsmith: 12 tags');
    assert.match(tagged.tooltip, /\nTags: t0, t1 \(not trained\), t2, .*t9 \(not trained\) and 2 more\.\n/);
    const busy = statusBarText({ health: ready, snapshot: { tags: many, tasks: [task('queued', 't2'), task('running', 't1', 0.426)] } });
    assert.deepEqual(busy, { text: '$(sync~spin) Tagsmith: training t1 43%', tooltip: 'Training "t1": cross-validation' });
    assert.equal(
      statusBarText({ health: { state: 'not-answering', url: ready.url, message: 'fetch failed' }, snapshot: { tags: many, tasks: [task('running', 't1')] } })
        .text,
      '$(warning) Tagsmith: not answering',
    );
    assert.equal(
      statusBarText({ health: { state: 'stopped', reason: 'the engine did not start within 90 s' } }).tooltip,
      'The Tagsmith engine is not running: the engine did not start within 90 s\nClick for the log or to restart it.',
    );
  });
});
