// The webview ↔ host protocol: what either side accepts, and the gallery's selection rules.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isHostNotification, isReadyNotification, isRequestMessage, isResponseMessage, notification, request, response } from '../../webview/protocol';
import { Selection } from '../../webview/lib/selection';
import { buildWebviewHtml } from '../../extension/panels/webview-html';

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

describe('gallery selection', () => {
  it('click selects one, ctrl toggles, shift extends from the anchor', () => {
    const s = new Selection(['a', 'b', 'c', 'd', 'e']);
    s.click(1);
    assert.deepEqual(s.ids, ['b']);
    s.click(3, { extend: true });
    assert.deepEqual(s.ids, ['b', 'c', 'd']);
    s.click(0, { toggle: true });
    assert.deepEqual(s.ids, ['a', 'b', 'c', 'd']);
    s.click(2, { toggle: true });
    assert.deepEqual(s.ids, ['a', 'b', 'd']);
    s.setOrder(['a', 'd', 'e']); // b was moved away
    assert.deepEqual(s.ids, ['a', 'd']);
    s.selectAll();
    assert.deepEqual(s.ids, ['a', 'd', 'e']);
  });
});

describe('webview page', () => {
  it('has a strict CSP: scripts only with the nonce, no remote content', () => {
    const html = buildWebviewHtml({ panel: 'gallery', title: 'T', cspSource: 'https://x.vscode-cdn.net', scriptUri: 'https://x.vscode-cdn.net/g.js', styleUri: 'https://x.vscode-cdn.net/g.css', nonce: 'abc' });
    const csp = /Content-Security-Policy" content="([^"]+)"/.exec(html)![1];
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'nonce-abc'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https:(?!\/\/x)|\*/);
    assert.equal((html.match(/<script /g) ?? []).length, 1);
    assert.match(html, /<script nonce="abc" src="https:\/\/x\.vscode-cdn\.net\/g\.js">/);
  });
});
