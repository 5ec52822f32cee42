// The gallery's selection rules (webview/lib/selection.ts): click, Ctrl/Cmd-click, Shift-click,
// select all, and a selection that follows the grid when samples move away.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Selection } from '../../webview/lib/selection';

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
