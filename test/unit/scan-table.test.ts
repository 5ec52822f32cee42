// Scan results as files people open in a spreadsheet or load with pandas: every tag's three
// columns, quoting that survives commas and quotes in paths, and no formula injection.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { csvHeader, csvRow, jsonLine, type ImageCalls } from '../../kernel/export/scan-table';

const row = (path: string): ImageCalls => ({
  path,
  sha256: 'a'.repeat(64),
  tags: { bees: { score: 0.912345678, threshold: 0.5, applies: true } },
  aesthetic: 0.4,
  stock: 0.3,
  nsfw: { neutral: 0.99, porn: 0.01 },
});

/** A minimal RFC 4180 reader, to check what a spreadsheet would see. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      record.push(field);
      rows.push(record);
      record = [];
      field = '';
      i++;
    } else field += c;
  }
  return rows;
}

describe('scan tables', () => {
  it("writes a header with each tag's score, threshold and call, and one row per image", () => {
    const text = csvHeader(['bees', 'ants'], ['neutral', 'porn']) + csvRow(row('/p/a.jpg'), ['bees', 'ants'], ['neutral', 'porn']);
    const [header, first] = parseCsv(text);
    assert.deepEqual(header, [
      'path',
      'sha256',
      'bees.score',
      'bees.threshold',
      'bees.applies',
      'ants.score',
      'ants.threshold',
      'ants.applies',
      'aesthetic',
      'stock',
      'nsfw.neutral',
      'nsfw.porn',
    ]);
    assert.deepEqual(first, ['/p/a.jpg', 'a'.repeat(64), '0.912346', '0.5', 'true', '', '', '', '0.4', '0.3', '0.99', '0.01']);
  });

  it('quotes commas, quotes and newlines in paths, and defuses formulas', () => {
    const tricky = ['/p/a, "b".jpg', '/p/line\nbreak.jpg', '=HYPERLINK("http://x")', '@SUM(1).jpg'];
    const text = tricky.map((p) => csvRow(row(p), ['bees'], [])).join('');
    const paths = parseCsv(text).map((r) => r[0]);
    assert.deepEqual(paths, ['/p/a, "b".jpg', '/p/line\nbreak.jpg', `'=HYPERLINK("http://x")`, `'@SUM(1).jpg`]);
  });

  it('writes one JSON object per line with rounded scores', () => {
    const line = jsonLine(row('/p/a.jpg'));
    assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'));
    const value = JSON.parse(line) as ImageCalls;
    assert.deepEqual(value.tags.bees, { score: 0.912346, threshold: 0.5, applies: true });
    assert.equal(value.path, '/p/a.jpg');
  });
});
