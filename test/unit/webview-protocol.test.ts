// The webview ↔ host protocol: what either side accepts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isHostNotification, isReadyNotification, isRequestMessage, isResponseMessage, notification, request, response } from '../../webview/protocol';

describe('webview protocol', () => {
  it('accepts well-formed requests and refuses anything else', () => {
    assert.ok(isRequestMessage(request(1, 'samples/move', { tag: 'cats', sampleIds: ['a'], to: 'negative' })));
    assert.ok(
      isRequestMessage(request(2, 'train/start', { tag: 'cats', options: { num_clusters: 2, apply_aesthetic_score: false, apply_stock_score: true } })),
    );
    const refused = [
      { ...request(3, 'samples/move', { tag: 'cats', sampleIds: ['a'], to: 'negative' }), v: 2 }, // another protocol version
      { v: 1, kind: 'request', id: 4, method: 'samples/move', params: { tag: 'cats', sampleIds: ['a'], to: 'sideways' } },
      {
        v: 1,
        kind: 'request',
        id: 5,
        method: 'train/start',
        params: { tag: 'cats', options: { num_clusters: 0, apply_aesthetic_score: false, apply_stock_score: false } },
      },
      { v: 1, kind: 'request', id: 6, method: 'eval', params: {} },
      { v: 1, kind: 'request', id: 7, method: 'toString', params: {} }, // inherited names are not methods
      { v: 1, kind: 'request', id: 'x', method: 'engine/snapshot', params: {} },
      { v: 1, kind: 'request', id: 8, method: 'samples/add', params: { tag: 'cats', type: 'positive', files: [{ name: 'a.jpg' }], uris: [] } },
      null,
      'ready',
      [],
    ];
    for (const message of refused) assert.equal(isRequestMessage(message), false, JSON.stringify(message));
  });

  it("accepts the review panel's requests only with a target and an undo it can carry out", () => {
    assert.ok(isRequestMessage(request(1, 'review/queue', { tag: 'cats', view: 'not-applies', offset: 0, limit: 48 })));
    assert.ok(isRequestMessage(request(2, 'review/decide', { tag: 'cats', type: 'positive', target: { path: '/photos/a.jpg' } })));
    assert.ok(isRequestMessage(request(3, 'review/undo', { tag: 'cats', effect: { kind: 'moved', sampleId: 'ab', from: 'negative' } })));
    assert.ok(isRequestMessage(request(4, 'panel/open', { panel: 'review', tag: 'cats', similarTo: { scanId: 's1', index: 3, label: 'a.jpg' } })));
    const refused = [
      { v: 1, kind: 'request', id: 5, method: 'review/queue', params: { tag: 'cats', view: 'everything', offset: 0, limit: 48 } },
      { v: 1, kind: 'request', id: 6, method: 'review/queue', params: { tag: 'cats', view: 'applies', offset: -1, limit: 48 } },
      { v: 1, kind: 'request', id: 7, method: 'review/decide', params: { tag: 'cats', type: 'positive', target: {} } },
      { v: 1, kind: 'request', id: 8, method: 'review/undo', params: { tag: 'cats', effect: { kind: 'added' } } },
      { v: 1, kind: 'request', id: 9, method: 'review/undo', params: { tag: 'cats', effect: { kind: 'moved', sampleId: 'ab', from: 'sideways' } } },
      { v: 1, kind: 'request', id: 10, method: 'samples/list', params: { tag: 'cats', order: 'random' } },
    ];
    for (const message of refused) assert.equal(isRequestMessage(message), false, JSON.stringify(message));
    assert.ok(isHostNotification(notification('review/showSimilar', { target: { sampleId: 'ab', label: 'a.jpg' } })));
    assert.equal(isHostNotification({ v: 1, kind: 'notification', method: 'review/showSimilar', params: { target: { label: 'a.jpg' } } }), false);
  });

  it('checks responses and notifications both ways', () => {
    assert.ok(isResponseMessage(response(1, { result: { moved: 1 } })));
    assert.ok(isResponseMessage(response(1, { error: { code: 'unknown_tag', message: 'No tag "x".' } })));
    assert.equal(isResponseMessage({ v: 1, kind: 'response', id: 1, ok: false, error: 'boom' }), false);
    assert.ok(isHostNotification(notification('engine/changed', { tags: [], tasks: [] })));
    assert.equal(isHostNotification({ v: 1, kind: 'notification', method: 'engine/changed', params: { tags: 'x' } }), false);
    assert.ok(isReadyNotification(notification('ready', { panel: 'gallery' })));
    assert.equal(isReadyNotification(notification('ready', { panel: 'settings' } as never)), false);
  });
});
