// The SDK document is the contract: every curl command and every Python function in it runs
// here as written (only the port is the test's own, and Python 2's unicode() becomes
// Python 3), against `tagsmith serve` started as a user starts it.
// Needs: curl, /usr/bin/python3 with python3-requests (.ci/run installs them).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { blobImages, stripedImages, tempDir } from '../helpers/engine';
import { removeDir, startCliServer, type CliServer } from '../helpers/cli-server';
import { eventually } from '../helpers/wait';
import { isActiveTask, type TaskState } from '../../kernel/rules';

const SEED = path.resolve(__dirname, '../fixtures/sdk-customised-training.rst');

/** The document's literal blocks (the indented text after `::`). */
async function literalBlocks(): Promise<string[]> {
  const lines = (await fs.readFile(SEED, 'utf8')).split('\n');
  const blocks: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].trimEnd().endsWith('::')) continue;
    const block: string[] = [];
    let j = i + 1;
    while (j < lines.length && (lines[j].trim() === '' || /^\s/.test(lines[j]))) block.push(lines[j++]);
    const indent = Math.min(...block.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length));
    blocks.push(
      block
        .map((l) => l.slice(indent))
        .join('\n')
        .replace(/^\n+|\s+$/g, ''),
    );
  }
  return blocks;
}

/** Splits a command line as a shell would for these commands (double quotes, no expansion). */
function shellWords(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);
}

describe('the SDK document, run as written', () => {
  // The document and the pictures are read by both tests; each runs against a server of its own.
  let server: CliServer;
  let work: string;
  let curls: string[];
  let python: string[];
  beforeEach(async () => {
    server = await startCliServer();
  });
  afterEach(async () => {
    assert.equal(await server.stop(), 0, 'serve exits cleanly on SIGTERM');
    await removeDir(server.stateDir);
  });
  before(async () => {
    work = await tempDir('tagsmith-seed-');
    const blocks = await literalBlocks();
    curls = blocks.filter((b) => b.startsWith('curl '));
    python = blocks.filter((b) => b.includes('def '));
    const positives = await stripedImages(4);
    const negatives = await blobImages(4);
    for (const [i, b] of positives.entries()) await fs.writeFile(path.join(work, `pos${i}.jpg`), b);
    for (const [i, b] of negatives.entries()) await fs.writeFile(path.join(work, `neg${i}.jpg`), b);
  });
  after(async () => {
    await removeDir(work);
  });

  const curl = (template: string, fill: Record<string, string>, image = 'pos0.jpg'): string => {
    let line = template.replace('127.0.0.1:5000', `127.0.0.1:${server.port}`).replace('./your_img.jpg', `./${image}`);
    for (const [k, v] of Object.entries(fill)) line = line.replaceAll(`<${k}>`, v);
    const [cmd, ...args] = shellWords(line);
    assert.equal(cmd, 'curl');
    return execFileSync('curl', ['-sS', '--fail-with-body', ...args], { cwd: work, encoding: 'utf8' });
  };
  const find = (fragment: string) => {
    const found = curls.find((c) => c.includes(fragment));
    assert.ok(found, `the document has a curl command with ${fragment}`);
    return found!;
  };

  it('every curl command works', async () => {
    assert.ok(curls.length >= 11, `found ${curls.length} curl commands`);
    const add = find('/add/<type>/<tag>');
    for (let i = 0; i < 4; i++) {
      assert.equal(JSON.parse(curl(add, { type: 'positive', tag: 'stripes' }, `pos${i}.jpg`)).added, true);
      assert.equal(JSON.parse(curl(add, { type: 'negative', tag: 'stripes' }, `neg${i}.jpg`)).added, true);
    }
    const { task_id } = JSON.parse(curl(find('/train/<tag>'), { tag: 'stripes' }));
    assert.match(task_id, /^[0-9a-f-]{36}$/);
    const options = JSON.parse(curl(find('num_clusters=3'), { tag: 'stripes' }));
    // Every option the task will train with: the three asked for, and apply_keywords at its default.
    assert.deepEqual(options.options, { num_clusters: 3, apply_aesthetic_score: true, apply_stock_score: true, apply_keywords: false });
    let status: { state: TaskState; error?: unknown } = { state: 'queued' };
    await eventually(
      () => {
        status = JSON.parse(curl(find('/status/<task_id>'), { task_id: options.task_id }));
        return !isActiveTask(status);
      },
      'the task trained with num_clusters=3 has finished',
      120_000,
      200,
    );
    assert.equal(status.state, 'done', JSON.stringify(status.error));

    const predicted = JSON.parse(curl(find('/predict -X'), {}, 'pos1.jpg'));
    assert.equal(predicted.custom.stripes.label, true);
    assert.ok(predicted.base.nsfw && predicted.base.aesthetic && predicted.base.stock);
    assert.deepEqual(Object.keys(JSON.parse(curl(find('/predict/custom -X'), {}))), ['stripes']);
    assert.equal(JSON.parse(curl(find('/predict/custom/<tag>'), { tag: 'stripes' }, 'neg1.jpg')).stripes.label, false);

    curl(find('/get_features'), {}, 'pos2.jpg');
    const features = JSON.parse(await fs.readFile(path.join(work, 'features.json'), 'utf8'));
    assert.equal(features.features.length, 1792);
    const byFeatures = JSON.parse(curl(find('/predict_by_features'), {}));
    assert.equal(byFeatures.custom.stripes.label, true);

    curl(find('/get_state'), {});
    const tarSize = (await fs.stat(path.join(work, 'state.tar'))).size;
    assert.ok(tarSize > 10_000, `state.tar is ${tarSize} bytes`);
    assert.equal(JSON.parse(curl(find('/clean/<tag>'), { tag: 'stripes' })).removedSamples, 8);
    assert.deepEqual(JSON.parse(curl(find('/set_state'), {})), { tags: 1, samples: 8 });
    assert.equal(JSON.parse(curl(find('/predict/custom/<tag>'), { tag: 'stripes' }, 'pos1.jpg')).stripes.label, true, 'restored tag predicts again');
  });

  it('every Python function works with requests', async () => {
    const definitions = python
      .join('\n\n')
      .replaceAll('127.0.0.1:5000', `127.0.0.1:${server.port}`)
      .replace('io.StringIO(unicode(json.dumps(features)))', 'io.StringIO(json.dumps(features))');
    const script =
      `import io, json, time, requests\n\n${definitions}\n\n` +
      `
results = {}
for i in range(4):
    results.setdefault('add', []).append(add_sample('pos%d.jpg' % i, 'positive', 'py-tag'))
    add_sample('neg%d.jpg' % i, 'negative', 'py-tag')
task = requests.get('http://127.0.0.1:${server.port}/train/py-tag').json()
deadline = time.time() + 120
while True:
    status = requests.get('http://127.0.0.1:${server.port}/status/%s' % task['task_id']).json()
    if status['state'] in ('done', 'failed'):
        break
    if time.time() > deadline:
        raise SystemExit('the task is still %s after 120 s' % status['state'])
    time.sleep(0.2)
results['status'] = status['state']
results['predictions'] = get_predictions('pos3.jpg')
results['custom'] = get_custom_predictions('neg3.jpg', 'py-tag')
features = get_features('pos2.jpg')
results['features'] = len(features['features'])
results['by_features'] = get_predictions_by_features(features)
print(json.dumps(results))
`;
    await fs.writeFile(path.join(work, 'seed.py'), script);
    const out = JSON.parse(execFileSync('/usr/bin/python3', ['seed.py'], { cwd: work, encoding: 'utf8' }));
    assert.equal(out.add[0].added, true);
    assert.equal(out.status, 'done');
    assert.equal(out.predictions.custom['py-tag'].label, true);
    assert.equal(out.custom['py-tag'].label, false);
    assert.equal(out.features, 1792);
    assert.equal(out.by_features.custom['py-tag'].label, true);
  });
});
