// Loads a generation folder as the engine's state: every file checked (readGeneration), then the
// folder settled in place, so what it holds is what the engine will serve. Used at start-up for
// the current generation and by a restore for the new one before it is swapped in.
import { isActiveTask } from '../rules';
import { writeJsonAtomic } from './atomic-file';
import { readGeneration, type GenerationContents, type ReadOptions, type RunningBackbone } from './read-generation';
import type { TaskRecord } from './record-schemas';
import { sweepGeneration } from './sample-files';
import type { GenerationLayout } from './state-layout';

export type { GenerationContents, RunningBackbone };

/**
 * Checks every file of `gen`, then settles it: tasks a stopped engine left queued or running
 * are saved as failed (interrupted), and files of samples no list names (what a crash between
 * a list's write and its sweep leaves) are deleted. Throws `invalid_archive` for the first
 * problem, before anything is changed. `readOnly` (a replica's snapshot): the same checks, the
 * tasks settled in memory only, nothing written or deleted.
 */
export async function loadGeneration(
  gen: GenerationLayout,
  running: RunningBackbone,
  options: ReadOptions & { readOnly?: boolean } = {},
): Promise<GenerationContents> {
  const contents = await readGeneration(gen, running, options);
  contents.tasks = await Promise.all(
    contents.tasks.map(async (task) => {
      // A replica settles in memory only, and every replica of one archive must answer alike: the
      // time it stopped is not known there, so the task's own start stands for it.
      const settled = interruptedTask(task, options.readOnly ? (task.startedAt ?? task.createdAt) : undefined);
      if (settled !== task && !options.readOnly) await writeJsonAtomic(gen.task(settled.task_id), settled);
      return settled;
    }),
  );
  if (!options.readOnly) await sweepGeneration(gen, contents);
  return contents;
}

/** A task that was queued or running when its engine stopped: it failed, and says so. */
export function interruptedTask(record: TaskRecord, finishedAt = new Date().toISOString()): TaskRecord {
  if (!isActiveTask(record)) return record;
  return {
    ...record,
    state: 'failed',
    error: { code: 'interrupted', message: 'The engine stopped while this task was running; train again.' },
    finishedAt,
  };
}
