// The one HTML builder of both panels (extension/panels/webview-html.ts): its CSP.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildWebviewHtml } from '../../extension/panels/webview-html';

describe('webview page', () => {
  it('has a strict CSP: scripts only with the nonce, no remote content', () => {
    const html = buildWebviewHtml({
      panel: 'gallery',
      title: 'T',
      cspSource: 'https://x.vscode-cdn.net',
      scriptUri: 'https://x.vscode-cdn.net/g.js',
      styleUri: 'https://x.vscode-cdn.net/g.css',
      nonce: 'abc',
    });
    const csp = /Content-Security-Policy" content="([^"]+)"/.exec(html)![1];
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'nonce-abc'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https:(?!\/\/x)|\*/);
    assert.equal((html.match(/<script /g) ?? []).length, 1);
    assert.match(html, /<script nonce="abc" src="https:\/\/x\.vscode-cdn\.net\/g\.js">/);
  });
});
