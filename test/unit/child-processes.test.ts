// Starting and stopping child processes, the one way the extension does it (ForkedProcess),
// with small scripts standing in for the engine and the notebook kernel; then the engine
// itself, the built CLI, started by the extension's EngineProcess through its ready line.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EngineProcess } from '../../extension/engine/engine-process';
import { ForkedProcess, type ChildExit, type ForkLaunch } from '../../extension/process/forked-process';
import { tempDir } from '../helpers/engine';

const CHILDREN: Record<string, string> = {
  // Prints, then its ready line; exits with code 3 and a reason on stderr when told to.
  'ready-line.js': `
    console.log('warming up');
    console.error('a warning');
    setTimeout(() => console.log('READY {"port":7}'), 10);
    process.on('message', (m) => { if (m === 'crash') { console.error('boom: out of cheese'); process.exit(3); } });
    setInterval(() => {}, 1000);`,
  // Says it is ready by IPC; answers pings; ends on SIGTERM (Node's default).
  'ready-message.js': `
    process.on('message', (m) => process.send({ type: 'pong', echo: m }));
    process.send({ type: 'hello' });
    process.send({ type: 'ready', versions: { node: process.version } });
    setInterval(() => {}, 1000);`,
  'exits-early.js': `
    console.error('cannot open the state folder');
    process.exit(2);`,
  // Never ready; leaves its pid where the test can find it.
  'silent.js': `
    require('fs').writeFileSync(process.argv[2], String(process.pid));
    setInterval(() => {}, 1000);`,
  // Ready, but shrugs off SIGTERM: only SIGKILL ends it.
  'ignores-sigterm.js': `
    process.on('SIGTERM', () => console.error('not yet'));
    process.send({ type: 'ready' });
    setInterval(() => {}, 1000);`,
};

const byLine = (line: string) => (line.startsWith('READY ') ? (JSON.parse(line.slice(6)) as { port: number }) : undefined);
const byMessage = (m: unknown) => ((m as { type?: string }).type === 'ready' ? (m as { versions: Record<string, string> }) : undefined);

describe('a forked child process', { timeout: 60_000 }, () => {
  let dir: string;
  before(async () => {
    dir = await tempDir('tagsmith-children-');
    for (const [name, code] of Object.entries(CHILDREN)) await fs.writeFile(path.join(dir, name), code);
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  function launch<Ready>(script: string, ready: ForkLaunch<Ready>['ready'], extra: Partial<ForkLaunch<Ready>> = {}): ForkLaunch<Ready> {
    return { name: 'the test child', script: path.join(dir, script), env: process.env, execArgv: [], stdin: 'ignore', ready, startTimeoutMs: 30_000, ...extra };
  }

  /** Every `exited` it fires, and a promise of the first. */
  function exits(child: ForkedProcess<unknown>): { all: ChildExit[]; first: Promise<ChildExit> } {
    const all: ChildExit[] = [];
    child.on('exited', (exit) => all.push(exit));
    return { all, first: new Promise((resolve) => child.once('exited', resolve)) };
  }

  it('is ready on its ready line, passes on everything else it prints, and reports a crash once with its stderr', async () => {
    const output: string[] = [];
    const child = await ForkedProcess.start(launch('ready-line.js', { line: byLine }, { onOutput: (line, stream) => output.push(`${stream}: ${line}`) }));
    assert.deepEqual(child.ready, { port: 7 });
    assert.deepEqual(output.sort(), ['stderr: a warning', 'stdout: warming up']);
    const seen = exits(child);
    child.send('crash');
    const exit = await seen.first;
    assert.deepEqual([exit.code, exit.signal, exit.requested], [3, null, false]);
    assert.match(exit.stderrTail, /a warning\nboom: out of cheese/);
    assert.equal(child.running, false);
    assert.deepEqual(await child.stop(), exit, 'stopping a child that has gone changes nothing');
    assert.equal(seen.all.length, 1);
  });

  it('is ready on its ready message, then passes its messages on; stop() ends it with SIGTERM', async () => {
    const child = await ForkedProcess.start(launch('ready-message.js', { message: byMessage }));
    assert.equal(child.ready.versions.node, process.version);
    const pong = new Promise((resolve) => child.on('message', (m) => (m as { type: string }).type === 'pong' && resolve(m)));
    child.send('ping');
    assert.deepEqual(await pong, { type: 'pong', echo: 'ping' });
    const seen = exits(child);
    const exit = await child.stop();
    assert.deepEqual([exit.signal, exit.requested], ['SIGTERM', true]);
    assert.deepEqual(seen.all, [exit]);
  });

  it('fails early, with what it wrote to stderr, when it exits before it is ready', async () => {
    await assert.rejects(
      ForkedProcess.start(launch('exits-early.js', { line: byLine })),
      /^Error: the test child exited \(code 2\) while starting: cannot open the state folder$/,
    );
  });

  it('gives up on a child that never says it is ready, and kills it', async () => {
    const pidFile = path.join(dir, 'silent.pid');
    await assert.rejects(
      ForkedProcess.start(launch('silent.js', { line: byLine }, { args: [pidFile], startTimeoutMs: 1000 })),
      /the test child did not start within 1 s/,
    );
    // (No pid file: it was killed before it ran its first line.)
    const pid = await fs.readFile(pidFile, 'utf8').then(Number, () => undefined);
    if (pid) assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the child is gone');
  });

  it('kills a child that ignores SIGTERM once the stop timeout has passed', async () => {
    const child = await ForkedProcess.start(launch('ignores-sigterm.js', { message: byMessage }, { stopTimeoutMs: 200 }));
    const seen = exits(child);
    const exit = await child.stop();
    assert.deepEqual([exit.signal, exit.requested], ['SIGKILL', true]);
    assert.match(exit.stderrTail, /not yet/);
    assert.deepEqual(seen.all, [exit]);
  });
});

describe('the engine started as the extension starts it', { timeout: 120_000 }, () => {
  const cliPath = path.resolve(__dirname, '../../dist/kernel/cli.js');
  let stateDir: string;
  before(async () => {
    stateDir = await tempDir('tagsmith-engine-process-');
  });
  after(() => fs.rm(stateDir, { recursive: true, force: true }));

  it('answers on the port its ready line names, with its token; stops without a crash report', async () => {
    const engine = await EngineProcess.start({ cliPath, stateDir, port: 0, threads: 1, log: () => undefined });
    let crashed = false;
    engine.onCrash(() => (crashed = true));
    assert.ok(engine.connection.token, 'a private engine has a token');
    assert.deepEqual(await engine.client.tags(), []);
    const anonymous = await fetch(`${engine.connection.url}/tags`);
    assert.equal(anonymous.status, 401, 'a request without the token is refused');
    await engine.stop();
    assert.equal(crashed, false);
  });

  it("starts in a shell that exported TAGSMITH_REDIS for the CLI's scan workers (only --redis makes an engine hand scans out)", async () => {
    process.env.TAGSMITH_REDIS = 'redis://127.0.0.1:9';
    try {
      const engine = await EngineProcess.start({ cliPath, stateDir, port: 0, threads: 1, log: () => undefined });
      assert.deepEqual(await engine.client.tags(), []);
      await engine.stop();
    } finally {
      delete process.env.TAGSMITH_REDIS;
    }
  });

  it('reports a crash once, with how it ended', async () => {
    const engine = await EngineProcess.start({ cliPath, stateDir, port: 0, threads: 1, log: () => undefined });
    const crashes: ChildExit[] = [];
    const crashed = new Promise<void>((resolve) => engine.onCrash((exit) => resolve(void crashes.push(exit))));
    process.kill(engine.pid, 'SIGKILL');
    await crashed;
    assert.deepEqual(
      crashes.map((c) => [c.signal, c.requested]),
      [['SIGKILL', false]],
    );
    await engine.stop(); // already gone: nothing happens, nothing is reported
    assert.equal(crashes.length, 1);
  });
});
