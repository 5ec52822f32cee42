// Two set_state calls racing a training task, again and again: each round must end in exactly
// one of the two archives' states (never a mix), with the invariants holding, no 5xx, and the
// task finished (done, or failed: interrupted when its state was replaced under it).
import { TagsmithApiError, TagsmithClient } from '../../../kernel/client/tagsmith-client';
import { blobPicture, stripedPicture } from '../../../kernel/notebook/demo-images';
import { removeDir, startCliServer } from '../../helpers/cli-server';
import { inspectState } from '../../helpers/state-invariants';

export interface RaceResult {
  rounds: number;
  mixedStates: number;
  serverErrors: number;
  invariantViolations: number;
  tasksStuck: number;
  problems: string[];
}

const signature = (tags: Record<string, string[]>) =>
  JSON.stringify(
    Object.entries(tags)
      .map(([t, ids]) => [t, [...ids].sort()])
      .sort(),
  );

export async function runSetStateRace(rounds: number): Promise<RaceResult> {
  const server = await startCliServer();
  const client = new TagsmithClient({ url: server.url, timeoutMs: 60_000 });
  const images = await Promise.all(Array.from({ length: 24 }, (_, i) => (i % 2 ? stripedPicture(i) : blobPicture(i)).resize(160).jpeg().toBuffer()));
  // Archive A: tag "race" with 12 samples. Archive B: tags "race" (other samples) and "other".
  for (let i = 0; i < 12; i++) await client.addSample(i % 2 ? 'positive' : 'negative', 'race', images[i]);
  const a = await client.getState();
  const stateA = signature((await inspectState(server.stateDir)).tags);
  await client.clean('race');
  for (let i = 12; i < 24; i++) await client.addSample(i % 2 ? 'positive' : 'negative', 'race', images[i]);
  await client.addSample('positive', 'other', images[0]);
  const b = await client.getState();
  const stateB = signature((await inspectState(server.stateDir)).tags);

  const result: RaceResult = { rounds, mixedStates: 0, serverErrors: 0, invariantViolations: 0, tasksStuck: 0, problems: [] };
  const count5xx = (error: unknown) => {
    if (error instanceof TagsmithApiError && (error.status >= 500 || error.status === 0)) {
      result.serverErrors++;
      result.problems.push(error.message);
    }
  };
  for (let round = 0; round < rounds; round++) {
    const task = client.train('race', { num_clusters: 2 });
    const taskId = await task.taskId.catch((e: unknown) => (count5xx(e), undefined));
    await Promise.all([client.setState(round % 2 ? a : b).catch(count5xx), client.setState(round % 2 ? b : a).catch(count5xx)]);
    if (taskId) {
      // The task belongs to the replaced state: it must not run on forever.
      const deadline = Date.now() + 30_000;
      for (;;) {
        const status = await client.status(taskId).catch(() => undefined);
        if (!status || status.state === 'done' || status.state === 'failed') break;
        if (Date.now() > deadline) {
          result.tasksStuck++;
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    // Checked at rest: a task record being rewritten has its temporary file for a moment.
    const report = await inspectState(server.stateDir);
    result.invariantViolations += report.problems.length;
    result.problems.push(...report.problems);
    const now = signature(report.tags);
    if (now !== stateA && now !== stateB) {
      result.mixedStates++;
      result.problems.push(`round ${round}: the state is neither archive`);
    }
  }
  await server.stop();
  await removeDir(server.stateDir);
  return result;
}
