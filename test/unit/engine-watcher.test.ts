// One picture of the engine in the editor: the watcher the extension runs with the engine, the
// status bar's words for what it sees, the panels' snapshot, and a training followed through
// it; tags and training come from ANOTHER client, as from a notebook or curl. Waits on the
// watcher's events, never on the clock. Each test has its own engine and watcher. (The status
// bar's words for a given view: status-bar-text.test.ts.)
import assert from 'node:assert/strict';
import { afterEach, before, describe, it, mock } from 'node:test';
import { TagsmithClient, type TaskView } from '../../kernel/client/tagsmith-client';
import { EngineWatcher, type EngineView } from '../../extension/engine/engine-watcher';
import { followTask } from '../../extension/engine/follow-task';
import { statusBarText } from '../../extension/logic/status-bar-text';
import { PanelRequests } from '../../extension/panels/panel-requests';
import { DEFAULT_TRAIN_OPTIONS } from '../../kernel/rules';
import type { EngineSnapshot } from '../../webview/protocol';
import { blobImages, stripedImages } from '../helpers/engine';
import { startTestServer, type TestServer } from '../helpers/server';

/** The first view, now or to come, that `holds`. */
function viewWhere(watcher: EngineWatcher, holds: (view: EngineView) => boolean): Promise<EngineView> {
  if (holds(watcher.view)) return Promise.resolve(watcher.view);
  return new Promise((resolve) => {
    const subscription = watcher.onDidChange((view) => {
      if (!holds(view)) return;
      subscription.dispose();
      resolve(view);
    });
  });
}

const statusWhere = (watcher: EngineWatcher, holds: (text: string, tooltip: string) => boolean) =>
  viewWhere(watcher, (view) => {
    const { text, tooltip } = statusBarText(view);
    return holds(text, tooltip);
  }).then(statusBarText);

/**
 * Holds the engine's next training task at "loading samples" until released, so a test sees it
 * run however fast it trains (the engine's beforeTraining hook).
 */
class TrainingGate {
  private held: Promise<void> | undefined;
  readonly beforeTraining = () => this.held;

  holdNext(): () => void {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    this.held = held.then(() => {
      this.held = undefined;
    });
    return release;
  }
}

describe('the engine as the editor sees it, changed by another client', { timeout: 180_000 }, () => {
  /** What one test sees: its own engine (training held by `gate`), the watcher on it, the panels' handler, and another client. */
  interface Editor {
    server: TestServer;
    gate: TrainingGate;
    other: TagsmithClient;
    watcher: EngineWatcher;
    requests: PanelRequests;
    /** What the panels were sent, as TagsmithPanels sends it: each new snapshot. */
    posted: EngineSnapshot[];
    subscriberErrors: unknown[];
    serverClosed: boolean;
  }
  const editors: Editor[] = [];
  let pictures: { positives: Buffer[]; negatives: Buffer[] };
  before(async () => {
    pictures = { positives: await stripedImages(3), negatives: await blobImages(3) };
  });
  afterEach(async () => {
    for (const editor of editors.splice(0)) {
      editor.watcher.dispose();
      if (!editor.serverClosed) await editor.server.close();
    }
  });

  async function openEditor(): Promise<Editor> {
    const gate = new TrainingGate();
    const server = await startTestServer({}, undefined, { hooks: { beforeTraining: () => gate.beforeTraining() } });
    const subscriberErrors: unknown[] = [];
    const posted: EngineSnapshot[] = [];
    const watcher = new EngineWatcher({ busyMs: 20, idleMs: 50 }, (error) => subscriberErrors.push(error));
    watcher.onDidChange(() => {
      throw new Error('a careless subscriber');
    });
    watcher.onDidChange(({ snapshot }) => {
      if (snapshot && snapshot !== posted.at(-1)) posted.push(snapshot);
    });
    const ours = new TagsmithClient({ url: server.url });
    const requests = new PanelRequests(async () => ours, watcher, {
      readDroppedUris: async () => ({ files: [], skipped: [] }),
      openSample: async () => undefined,
      openPanel: async () => undefined,
      openFile: async () => undefined,
      trainingStarted: () => undefined,
    });
    const editor: Editor = { server, gate, other: new TagsmithClient({ url: server.url }), watcher, requests, posted, subscriberErrors, serverClosed: false };
    editors.push(editor);
    assert.equal(statusBarText(watcher.view).text, '$(tag) Tagsmith', 'before the engine starts');
    watcher.engineReady(ours);
    return editor;
  }

  /** The other client adds three positives and three negatives of "bees". */
  async function addBees({ other }: Editor): Promise<void> {
    for (const image of pictures.positives) await other.addSample('positive', 'bees', image);
    for (const image of pictures.negatives) await other.addSample('negative', 'bees', image);
  }

  it("shows a tag added by another client in the status bar and the panels' snapshot", async () => {
    const editor = await openEditor();
    const { server, watcher, posted, requests } = editor;
    await statusWhere(watcher, (text) => text === '$(tag) Tagsmith: 0 tags');
    await addBees(editor);
    const status = await statusWhere(watcher, (text, tooltip) => text === '$(tag) Tagsmith: 1 tag' && tooltip.includes('bees (not trained)'));
    assert.match(status.tooltip, new RegExp(`^Tagsmith engine running at ${server.url}\\.\\nTags: bees \\(not trained\\)\\.`));
    await viewWhere(watcher, (view) => view.snapshot?.tags[0]?.positives === 3 && view.snapshot.tags[0].negatives === 3);
    assert.deepEqual(
      posted.at(-1)?.tags.map((t) => [t.tag, t.positives, t.negatives]),
      [['bees', 3, 3]],
    );
    const { tags } = await requests.handle('engine/snapshot', {}, { imageSrc: (file) => file });
    assert.deepEqual(
      tags.map((t) => [t.tag, t.positives, t.negatives, t.trained]),
      [['bees', 3, 3, false]],
    );
  });

  it('turns the status bar to training while another client trains, and back, and the follower gets the metrics', async () => {
    const editor = await openEditor();
    const { gate, other, watcher, posted } = editor;
    await addBees(editor);
    const release = gate.holdNext();
    const taskId = await other.train('bees', DEFAULT_TRAIN_OPTIONS).taskId;
    const updates: TaskView[] = [];
    const followed = followTask(watcher, taskId, (task) => updates.push(task));
    const training = await statusWhere(watcher, (text) => text.startsWith('$(sync~spin) Tagsmith: training bees'));
    assert.match(training.text, /^\$\(sync~spin\) Tagsmith: training bees \d+%$/);
    assert.match(training.tooltip, /^Training "bees": /);
    // The status bar shows a queued task as training too; the gate holds this one running, so
    // the panels are sent a snapshot with it running before it is released.
    await viewWhere(watcher, (view) => !!view.snapshot?.tasks.some((t) => t.task_id === taskId && t.state === 'running'));
    assert.ok(
      posted.at(-1)?.tasks.some((t) => t.task_id === taskId && t.state === 'running'),
      'the panels saw it run',
    );
    release();
    const done = await followed;
    assert.equal(done.state, 'done');
    assert.ok(done.metrics && done.metrics.rocAuc >= 0 && done.metrics.rocAuc <= 1);
    assert.equal(updates.at(-1)?.state, 'done');
    assert.ok(updates.some((t) => t.state === 'running'));
    const back = await statusWhere(watcher, (text) => !text.includes('training'));
    assert.equal(back.text, '$(tag) Tagsmith: 1 tag');
    assert.match(back.tooltip, /Tags: bees\./, 'trained now');
    await viewWhere(watcher, (view) => view.snapshot?.tags[0]?.trained === true);
    assert.equal(posted.at(-1)?.tags[0].trained, true);
  });

  it('rejects the follower of a task that failed, with its code', async () => {
    const editor = await openEditor();
    const { gate, other, watcher } = editor;
    await addBees(editor);
    const release = gate.holdNext();
    const taskId = await other.train('bees', DEFAULT_TRAIN_OPTIONS).taskId;
    const followed = followTask(watcher, taskId);
    await statusWhere(watcher, (text) => text.startsWith('$(sync~spin) Tagsmith: training bees'));
    await other.cancelTask(taskId);
    release();
    await assert.rejects(followed, { code: 'cancelled' });
  });

  it('shows the engine going away, never throwing at its subscribers', async () => {
    const editor = await openEditor();
    const { server, gate, other, watcher, subscriberErrors } = editor;
    await addBees(editor);
    const release = gate.holdNext();
    const taskId = await other.train('bees', DEFAULT_TRAIN_OPTIONS).taskId;
    const followed = followTask(watcher, taskId);
    followed.catch(() => undefined);
    await statusWhere(watcher, (text) => text.startsWith('$(sync~spin) Tagsmith: training bees'));
    release();
    editor.serverClosed = true;
    await server.close();
    const gone = await statusWhere(watcher, (text) => text === '$(warning) Tagsmith: not answering');
    assert.match(gone.tooltip, new RegExp(`^The Tagsmith engine at ${server.url} is not answering: `));
    await assert.rejects(watcher.read(), 'the panels hear it cannot answer');
    // What the engine's owner says next: it exited and is being restarted, then gave up.
    watcher.engineDown({ state: 'restarting', reason: 'it exited with signal SIGKILL' });
    assert.deepEqual(statusBarText(watcher.view), {
      text: '$(loading~spin) Tagsmith: restarting',
      tooltip: 'The Tagsmith engine stopped (it exited with signal SIGKILL) and is being restarted.',
    });
    watcher.engineDown({ state: 'stopped', reason: 'it kept stopping.' });
    assert.equal(statusBarText(watcher.view).text, '$(error) Tagsmith: engine stopped');
    await assert.rejects(followed, { code: 'engine_unreachable' });
    await assert.rejects(watcher.read(), /not running/);
    assert.ok(subscriberErrors.length > 0 && subscriberErrors.every((e) => (e as Error).message === 'a careless subscriber'));
  });
});

describe("the watcher's reading", () => {
  /** A client whose every call waits until the test answers it. */
  function heldClient() {
    const calls: { what: 'tags' | 'tasks'; answer: (value: unknown[]) => void }[] = [];
    let inFlight = 0;
    let most = 0;
    const call = (what: 'tags' | 'tasks') =>
      new Promise<unknown[]>((resolve) => {
        most = Math.max(most, ++inFlight);
        calls.push({
          what,
          answer: (value) => {
            inFlight--;
            resolve(value);
          },
        });
      });
    const client = { url: 'http://127.0.0.1:1', tags: () => call('tags'), tasks: () => call('tasks') } as unknown as TagsmithClient;
    return { client, calls, most: () => most };
  }
  const settle = () => new Promise((resolve) => setImmediate(resolve));

  it('has one request in flight at most, reads again once after pokes, and stops while the engine is down', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const { client, calls, most } = heldClient();
      const watcher = new EngineWatcher({ busyMs: 100, idleMs: 1000 });
      watcher.engineReady(client);
      mock.timers.tick(0);
      assert.deepEqual(
        calls.map((c) => c.what),
        ['tasks'],
      );
      watcher.poke();
      watcher.poke();
      const read = watcher.read();
      calls[0].answer([]);
      await settle();
      assert.deepEqual(
        calls.map((c) => c.what),
        ['tasks', 'tags'],
        'one request at a time',
      );
      calls[1].answer([{ tag: 'bees' }]);
      await settle();
      mock.timers.tick(0);
      assert.deepEqual(
        calls.map((c) => c.what),
        ['tasks', 'tags', 'tasks'],
        'the pokes made one more read, at once',
      );
      calls[2].answer([]);
      await settle();
      calls[3].answer([{ tag: 'bees' }, { tag: 'ants' }]);
      assert.deepEqual((await read).tags, [{ tag: 'bees' }, { tag: 'ants' }], 'read() answers with a read that started after it');
      assert.equal(most(), 1);

      mock.timers.tick(1000);
      assert.equal(calls.length, 5, 'idle: the next read after idleMs');
      watcher.engineDown({ state: 'restarting', reason: 'it exited with code 1' });
      calls[4].answer([{ state: 'running', tag: 'x', progress: 0 }]);
      await settle();
      mock.timers.runAll();
      assert.equal(calls.length, 5, 'no reads while the engine is down');
      assert.equal(watcher.view.health.state, 'restarting', 'a read of the engine that went is dropped');
      assert.ok(Object.isFrozen(watcher.view) && Object.isFrozen(watcher.view.snapshot?.tags[0]), 'views are frozen');
      watcher.dispose();
    } finally {
      mock.timers.reset();
    }
  });
});
