// The webview ↔ host protocol: what either side accepts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isHostNotification, isReadyNotification, isRequestMessage, isResponseMessage, notification, request, response } from '../../webview/protocol';

describe('webview protocol', () => {
  it('accepts well-formed requests and refuses anything else', () => {
    assert.ok(isRequestMessage(request(1, 'samples/move', { tag: 'cats', sampleIds: ['a'], to: 'negative' })));
    assert.ok(isRequestMessage(request(2, 'train/start', { tag: 'cats', options: { num_clusters: 2, apply_aesthetic_score: false, apply_stock_score: true } })));
    const refused = [
      { ...request(3, 'samples/move', { tag: 'cats', sampleIds: ['a'], to: 'negative' }), v: 2 }, // another protocol version
      { v: 1, kind: 'request', id: 4, method: 'samples/move', params: { tag: 'cats', sampleIds: ['a'], to: 'sideways' } },
      { v: 1, kind: 'request', id: 5, method: 'train/start', params: { tag: 'cats', options: { num_clusters: 0, apply_aesthetic_score: false, apply_stock_score: false } } },
      { v: 1, kind: 'request', id: 6, method: 'eval', params: {} },
      { v: 1, kind: 'request', id: 7, method: 'toString', params: {} }, // inherited names are not methods
      { v: 1, kind: 'request', id: 'x', method: 'engine/snapshot', params: {} },
      { v: 1, kind: 'request', id: 8, method: 'samples/add', params: { tag: 'cats', type: 'positive', files: [{ name: 'a.jpg' }], uris: [] } },
      null, 'ready', [],
    ];
    for (const message of refused) assert.equal(isRequestMessage(message), false, JSON.stringify(message));
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
