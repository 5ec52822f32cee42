// The one HTML page builder for both panels: a strict Content-Security-Policy with a nonce,
// only the bundle's own script and stylesheet, no remote content. No `vscode` here: the host
// passes the webview's URIs as strings, and the test harness passes its own.
import { randomBytes } from 'node:crypto';
import type { PanelKind } from '../../webview/protocol';

export interface WebviewPage {
  panel: PanelKind;
  title: string;
  /** `webview.cspSource`: the origin the bundle's files are served from. */
  cspSource: string;
  scriptUri: string;
  styleUri: string;
  nonce?: string;
}

export function newNonce(): string {
  return randomBytes(18).toString('base64url');
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function buildWebviewHtml(page: WebviewPage): string {
  const nonce = page.nonce ?? newNonce();
  const csp = [
    "default-src 'none'",
    // Thumbnails and dropped images arrive as data: URLs from the host; blob: for previews.
    `img-src ${page.cspSource} data: blob:`,
    // The toolkit's components style themselves through constructable stylesheets; the one
    // <style> element it makes (a feature probe) carries the nonce from the csp-nonce meta.
    `style-src ${page.cspSource} 'nonce-${nonce}'`,
    `font-src ${page.cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<meta property="csp-nonce" content="${nonce}">
<link rel="stylesheet" href="${escapeHtml(page.styleUri)}" nonce="${nonce}">
<title>${escapeHtml(page.title)}</title>
</head>
<body data-panel="${page.panel}">
<div id="app" aria-live="polite"></div>
<script nonce="${nonce}" src="${escapeHtml(page.scriptUri)}"></script>
</body>
</html>`;
}
