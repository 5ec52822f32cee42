// What the explorer shows for a folder scan, without VS Code: which files get a badge and which
// badge, its tooltip, which tags the setting shows, what the summary and the sidecar preview say,
// and which folders the engine may scan.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { ScanView, SidecarReport } from '../../kernel/client/tagsmith-client';
import {
  badgeText,
  changedFiles,
  imageDecorations,
  scansToShow,
  shownTags,
  tooltipText,
  type LoadedScan,
  type TagCall,
} from '../../extension/logic/scan-badges';
import { isUnder, outsideRoots, sameRoots, scanRootsOf } from '../../extension/logic/scan-roots';
import {
  ago,
  displayPath,
  exportFileName,
  formatBytes,
  outsideWorkspaceMessage,
  progressMessage,
  scanDetails,
  scanLabel,
  sidecarPreview,
  sidecarResult,
  summariseScan,
} from '../../extension/logic/scan-text';

const ws = path.resolve('/work/photos');
const p = (...parts: string[]) => path.join(ws, ...parts);
const yes = (score: number, threshold = 0.5): TagCall => ({ score, threshold, applies: score >= threshold });

function scan(id: string, createdAt: string, inputs: string[], images: [string, Record<string, TagCall>][]): LoadedScan {
  return { id, createdAt, inputs, images: images.map(([file, tags]) => ({ path: file, tags })) };
}

function view(partial: Omit<Partial<ScanView>, 'result'> & { result?: Partial<NonNullable<ScanView['result']>> }): ScanView {
  return {
    scan_id: 's-1',
    state: 'done',
    inputs: [p('a')],
    createdAt: '2026-01-01T10:00:00.000Z',
    finishedAt: '2026-01-01T10:01:00.000Z',
    ...partial,
    progress: { total: 10, done: 10, embedded: 4, known: 6, skipped: 0, imagesPerSecond: 12.3, ...partial.progress },
    result: { images: 10, skipped: [], applies: {}, changedCalls: {}, ...partial.result },
  };
}

describe('badges', () => {
  it("shows a tag's initials, or the first two letters of a one-word tag, or how many tags apply", () => {
    assert.equal(badgeText(['stripes']), 'St');
    assert.equal(badgeText(['golden-retriever']), 'GR');
    assert.equal(badgeText(['moody_film.v2']), 'MF');
    assert.equal(badgeText(['x']), 'X');
    assert.equal(badgeText(['2024-trip']), '2T');
    assert.equal(badgeText(['ébène']), 'Éb');
    assert.equal(badgeText(['猫']), '猫');
    assert.equal(badgeText(['a', 'b']), '2');
    assert.equal(badgeText(Array.from({ length: 12 }, (_, i) => `t${i}`)), '9+');
    for (const tag of ['stripes', 'golden-retriever', 'ébène', 'a', 'mixed-猫猫'])
      assert.ok([...new Intl.Segmenter().segment(badgeText([tag]))].length <= 2, tag);
  });

  it('names every applying tag with its score and threshold in the tooltip, highest first', () => {
    assert.equal(
      tooltipText([
        ['dots', yes(0.712, 0.6)],
        ['stripes', yes(0.931, 0.514)],
      ]),
      'Tagsmith: stripes 0.93 (threshold 0.51), dots 0.71 (threshold 0.60)',
    );
  });

  it('adds the objects a scan with keywords found to the tooltip, surest first, and nothing when it found none', () => {
    const keywords = { dog: { score: 0.6, count: 1, boxes: [] }, person: { score: 0.8, count: 3, boxes: [] } };
    assert.equal(tooltipText([['stripes', yes(0.931, 0.514)]], keywords), 'Tagsmith: stripes 0.93 (threshold 0.51) · objects: person ×3, dog');
    assert.equal(tooltipText([['stripes', yes(0.931, 0.514)]], {}), 'Tagsmith: stripes 0.93 (threshold 0.51)');
    const withObjects: LoadedScan = {
      id: 's',
      createdAt: '2026-01-01T10:00:00Z',
      inputs: [p('a')],
      images: [{ path: p('a', '1.jpg'), tags: { stripes: yes(0.9) }, keywords }],
    };
    assert.match(imageDecorations([withObjects], new Set(['stripes'])).get(p('a', '1.jpg'))!.tooltip, / · objects: person ×3, dog$/);
  });

  it('shows every trained tag, or those the setting names that are trained', () => {
    assert.deepEqual([...shownTags([], ['a', 'b'])], ['a', 'b']);
    assert.deepEqual([...shownTags(['b', ' c '], ['a', 'b'])], ['b']);
    assert.deepEqual([...shownTags(['gone'], ['a'])], []);
  });

  it('badges files listed by a scan where a shown tag applies, and nothing else', () => {
    const only = scan(
      's1',
      '2026-01-01T10:00:00Z',
      [p('a')],
      [
        [p('a', '1.jpg'), { stripes: yes(0.9), dots: yes(0.1) }],
        [p('a', '2.jpg'), { stripes: yes(0.2), dots: yes(0.1) }],
        [p('a', '3.jpg'), { stripes: yes(0.9), dots: yes(0.8) }],
      ],
    );
    const all = imageDecorations([only], new Set(['stripes', 'dots']));
    assert.deepEqual(
      [...all.values()].map((d) => [path.basename(d.path), d.badge]),
      [
        ['1.jpg', 'St'],
        ['3.jpg', '2'],
      ],
    );
    assert.equal(all.get(p('a', '3.jpg'))!.tooltip, 'Tagsmith: stripes 0.90 (threshold 0.50), dots 0.80 (threshold 0.50)');
    // Only "dots" shown: the file where only stripes applies has none.
    assert.deepEqual(
      [...imageDecorations([only], new Set(['dots'])).values()].map((d) => [path.basename(d.path), d.badge]),
      [['3.jpg', 'Do']],
    );
    // A tag no longer trained shows nothing, whatever the scan last said.
    assert.equal(imageDecorations([only], new Set()).size, 0);
  });

  it('lets the newest scan of a folder decide its files, also files it did not list', () => {
    const whole = scan(
      'old',
      '2026-01-01T10:00:00Z',
      [ws],
      [
        [p('a', '1.jpg'), { stripes: yes(0.9) }],
        [p('a', 'deleted.jpg'), { stripes: yes(0.9) }],
        [p('b', '1.jpg'), { stripes: yes(0.9) }],
      ],
    );
    const again = scan('new', '2026-01-02T10:00:00Z', [p('a')], [[p('a', '1.jpg'), { stripes: yes(0.1) }]]);
    const decorations = imageDecorations([again, whole], new Set(['stripes']));
    // a/1.jpg no longer applies, a/deleted.jpg was not listed by the newer scan of a/, b/ keeps its badge.
    assert.deepEqual([...decorations.keys()], [p('b', '1.jpg')]);
  });

  it('keeps the scans that are the newest of some folder in the workspace, finished or stopped', () => {
    const listed = [
      { scan_id: 'sub', state: 'done', inputs: [p('a', 'sub')], createdAt: '2026-01-04T00:00:00Z' },
      { scan_id: 'running', state: 'running', inputs: [ws], createdAt: '2026-01-05T00:00:00Z' },
      { scan_id: 'failed', state: 'failed', inputs: [ws], createdAt: '2026-01-05T00:00:01Z' },
      { scan_id: 'a-again', state: 'cancelled', inputs: [p('a')], createdAt: '2026-01-03T00:00:00Z' },
      { scan_id: 'a', state: 'done', inputs: [p('a')], createdAt: '2026-01-02T00:00:00Z' },
      { scan_id: 'a-and-b', state: 'done', inputs: [p('a'), p('b')], createdAt: '2026-01-01T00:00:00Z' },
      { scan_id: 'elsewhere', state: 'done', inputs: [path.resolve('/other/place')], createdAt: '2026-01-06T00:00:00Z' },
    ] as const;
    assert.deepEqual(scansToShow(listed, [ws]), ['sub', 'a-again', 'a-and-b']);
  });

  it('names the files whose badge appeared, went or changed', () => {
    const d = (file: string, badge: string) => [file, { path: file, badge, tooltip: `t ${badge}` }] as const;
    const before = new Map([d('/x/1', 'St'), d('/x/2', 'St'), d('/x/3', 'St')]);
    const after = new Map([d('/x/1', 'St'), d('/x/3', '2'), d('/x/4', 'Do')]);
    assert.deepEqual(changedFiles(before, after).sort(), ['/x/2', '/x/3', '/x/4']);
  });
});

describe('scan roots', () => {
  it('are the workspace folders on disk, each once, and unchanged whatever their order', () => {
    const folder = (scheme: string, fsPath: string) => ({ uri: { scheme, fsPath } });
    const roots = scanRootsOf([folder('file', p('a')), folder('vscode-remote', '/elsewhere'), folder('file', p('b')), folder('file', p('a'))]);
    assert.deepEqual(roots, [p('a'), p('b')]);
    assert.ok(sameRoots(roots, [p('b'), p('a')]));
    assert.ok(!sameRoots(roots, [p('a')]));
    assert.deepEqual(scanRootsOf(undefined), []);
  });

  it('tell what lies inside a folder, by whole names', () => {
    assert.ok(isUnder(p('a', 'x.jpg'), p('a')));
    assert.ok(isUnder(p('a'), p('a')));
    assert.ok(!isUnder(p('ab', 'x.jpg'), p('a')));
    assert.ok(!isUnder(ws, p('a')));
    assert.ok(isUnder(p('..x', 'y.jpg'), ws), 'a name starting with two dots is inside');
    assert.deepEqual(outsideRoots([p('a', '1.jpg'), path.resolve('/tmp/x')], [p('a')]), [path.resolve('/tmp/x')]);
  });

  it('say clearly why a folder outside the workspace is not scanned', () => {
    assert.match(outsideWorkspaceMessage(['/tmp/x'], [ws]), /^"\/tmp\/x" is outside this workspace's folders, .*Add Folder to Workspace/);
    assert.match(outsideWorkspaceMessage([], []), /^Open a folder first/);
  });
});

describe('scan messages', () => {
  it('counts progress with thousands separators and the rate', () => {
    assert.equal(progressMessage({ total: 3000, done: 1204, embedded: 0, known: 0, skipped: 0, imagesPerSecond: 38.4 }), '1,204 / 3,000 images, 38/s');
    assert.equal(progressMessage({ total: 30, done: 3, embedded: 0, known: 0, skipped: 0, imagesPerSecond: 2.25 }), '3 / 30 images, 2.3/s');
    assert.equal(progressMessage({ total: 0, done: 0, embedded: 0, known: 0, skipped: 0, imagesPerSecond: 0 }), 'looking for images…');
  });

  it('summarises how many images each tag applies to and names a few files skipped', () => {
    const skipped = ['broken.jpg', 'big.png', 'gone.jpg', 'more.jpg'].map((name) => ({ path: p('a', name), reason: `reason ${name}` }));
    const summary = summariseScan(
      view({
        progress: { total: 3004, done: 3004, embedded: 0, known: 0, skipped: 4, imagesPerSecond: 0 },
        result: { images: 3000, applies: { dots: 0, stripes: 120, moody: 1204 }, skipped },
      }),
      'photos',
    );
    assert.equal(
      summary.text,
      'Tagged 3,000 images in photos: "moody" applies to 1,204, "stripes" to 120, "dots" to none. Skipped 4: broken.jpg (reason broken.jpg); big.png (reason big.png); gone.jpg (reason gone.jpg); and 1 more.',
    );
    assert.ok(summary.hasMore && summary.warn);
    const clean = summariseScan(view({ result: { images: 1, applies: { stripes: 1 } } }), 'a.jpg');
    assert.deepEqual(clean, { text: 'Tagged 1 image in a.jpg: "stripes" applies to 1.', hasMore: false, warn: false });
    assert.match(summariseScan(view({ result: { images: 5 } }), 'photos').text, /No tag is trained yet/);
    const stopped = summariseScan(
      view({
        state: 'cancelled',
        progress: { total: 3000, done: 1204, embedded: 0, known: 0, skipped: 0, imagesPerSecond: 0 },
        result: { images: 1204, applies: { stripes: 7 } },
      }),
      'photos',
    );
    assert.equal(stopped.text, 'Stopped after 1,204 of 3,000 files in photos; tagged 1,204 images: "stripes" applies to 7.');
    assert.ok(stopped.warn);
  });

  it('lists every tag and every skipped file in the details, and says when the engine listed only some', () => {
    const skipped = Array.from({ length: 200 }, (_, i) => ({ path: p('a', `f${i}|.jpg`), reason: 'truncated' }));
    const details = scanDetails(
      view({
        progress: { total: 300, done: 300, embedded: 0, known: 0, skipped: 250, imagesPerSecond: 0 },
        result: { images: 50, skipped, applies: { stripes: 3, dots: 0 } },
      }),
      'photos',
      [ws],
    );
    assert.match(details, /^# Tagsmith: photos\n/);
    assert.match(details, /\| dots \| 0 \|\n\| stripes \| 3 \|/);
    assert.match(details, /- a\/f199\\\|\.jpg: truncated/);
    assert.match(details, /The engine lists the first 200 of them\./);
  });

  it('shows paths relative to their workspace folder, and names scans and exports by them', () => {
    const other = path.resolve('/work/shots');
    assert.equal(displayPath(p('a', '1.jpg'), [ws]), path.join('a', '1.jpg'));
    assert.equal(displayPath(ws, [ws]), 'photos');
    assert.equal(displayPath(p('a'), [ws, other]), path.join('photos', 'a'));
    assert.equal(displayPath('/elsewhere/x.jpg', [ws]), '/elsewhere/x.jpg');
    assert.equal(scanLabel([p('a'), p('b'), p('c')], [ws]), 'a and 2 more');
    assert.equal(scanLabel([p('a'), p('b')], [ws]), 'a and b');
    assert.equal(exportFileName('a and 2 more', 'csv'), 'tagsmith-a-and-2-more.csv');
    assert.equal(exportFileName('../..', 'jsonl'), 'tagsmith-scan.jsonl');
  });

  it('previews sidecars to write with a sample, and reports what was written, removed or failed', () => {
    const change = (name: string, creates: boolean) => ({ image: p(name), sidecar: p(`${name}.xmp`), creates, add: ['stripes'], remove: [] });
    const preview: SidecarReport = {
      action: 'preview',
      changes: ['1.jpg', '2.jpg', '3.jpg', '4.jpg', '5.jpg', '6.jpg', '7.jpg'].map((n, i) => change(n, i > 1)),
      failed: [{ image: p('x.jpg'), reason: 'not XML' }],
      written: false,
    };
    const text = sidecarPreview(preview, [ws]);
    assert.equal(text.message, "Write Tagsmith's keywords to 7 XMP sidecars?");
    assert.match(text.detail, /^5 new, 2 changed\./);
    assert.match(text.detail, /\n1\.jpg\.xmp: \+ stripes\n2\.jpg\.xmp: \+ stripes\n3\.jpg\.xmp \(new\): \+ stripes\n/);
    assert.match(text.detail, /…and 2 more\.\n\n1 sidecar could not be read: x\.jpg \(not XML\)\.$/);
    assert.ok(sidecarPreview({ ...preview, changes: [], failed: [] }, [ws]).nothingToWrite);
    assert.equal(sidecarResult({ ...preview, action: 'write', failed: [], written: true }, [ws]), 'Wrote keywords to 7 XMP sidecars (5 new).');
    assert.equal(
      sidecarResult({ action: 'remove', changes: [change('1.jpg', false)], failed: [], written: true }, [ws]),
      "Took Tagsmith's keywords out of 1 XMP sidecar.",
    );
    assert.equal(
      sidecarResult({ action: 'remove', changes: [], failed: [], written: true }, [ws]),
      'No XMP sidecar of these images holds keywords Tagsmith wrote.',
    );
  });

  it('says how long ago and how big in words', () => {
    const now = Date.parse('2026-01-02T12:00:00Z');
    assert.equal(ago('2026-01-02T11:59:30Z', now), 'just now');
    assert.equal(ago('2026-01-02T11:55:00Z', now), '5 minutes ago');
    assert.equal(ago('2026-01-02T11:00:00Z', now), '1 hour ago');
    assert.equal(ago('2025-12-30T12:00:00Z', now), '3 days ago');
    assert.equal(formatBytes(512), '512 bytes');
    assert.equal(formatBytes(1536 * 1024), '1.5 MB');
    assert.equal(formatBytes(300 * 1024 ** 3), '300 GB');
  });
});
