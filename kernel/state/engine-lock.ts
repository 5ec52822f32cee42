// One writing engine per state folder. Two engines writing the same folder would each keep
// their own picture of it (models, task queue) and overwrite each other's work, so the one
// that comes second refuses with a message naming the first; readers (`tagsmith predict`,
// read-only replicas) take no lock. A lock left by a process that died is taken over.
//
//   <root>/engine.lock   {"pid", "hostname", "command", "startedAt", "url"?}   (mode 0600)
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TagsmithError } from '../errors';

export interface LockOwner {
  pid: number;
  hostname: string;
  command: string;
  startedAt: string;
  /** Where the engine answers, once it does (so another window can say where to look). */
  url?: string;
}

export const LOCK_FILE = 'engine.lock';

/** Lock files this process holds: its pid in a lock file is then no sign of a stale lock. */
const heldHere = new Set<string>();

export class EngineLock {
  private released = false;

  private constructor(
    readonly file: string,
    private owner: LockOwner,
  ) {}

  /** Takes the folder's lock, or throws `state_in_use` naming the engine that holds it. */
  static async acquire(root: string, command = processCommand()): Promise<EngineLock> {
    const file = path.join(root, LOCK_FILE);
    const owner: LockOwner = { pid: process.pid, hostname: os.hostname(), command: withoutToken(command), startedAt: new Date().toISOString() };
    // Two attempts: the second after removing a stale lock (if two processes race for a stale
    // lock, both remove it and only one of them creates the new one).
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await fs.writeFile(file, `${JSON.stringify(owner)}\n`, { flag: 'wx', mode: 0o600 });
        heldHere.add(file);
        return new EngineLock(file, owner);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = await readOwner(file);
      if (holder && isAlive(holder, file)) throw inUse(root, holder);
      await fs.rm(file, { force: true });
    }
    const holder = await readOwner(file);
    throw holder ? inUse(root, holder) : new TagsmithError('state_in_use', `Could not lock ${root}: another engine is starting on it.`);
  }

  /** The engine that holds the folder's lock now, if a live one does. */
  static async holder(root: string): Promise<LockOwner | undefined> {
    const file = path.join(root, LOCK_FILE);
    const owner = await readOwner(file);
    return owner && isAlive(owner, file) ? owner : undefined;
  }

  /** Records where this engine answers, for the message another engine would give. */
  async setUrl(url: string): Promise<void> {
    this.owner = { ...this.owner, url };
    const temp = `${this.file}.tmp-${process.pid}`;
    await fs.writeFile(temp, `${JSON.stringify(this.owner)}\n`, { mode: 0o600 });
    await fs.rename(temp, this.file);
  }

  /** Removes the lock if it is still ours. Safe to call more than once. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    heldHere.delete(this.file);
    const current = await readOwner(this.file);
    if (current?.pid === this.owner.pid && current.hostname === this.owner.hostname) await fs.rm(this.file, { force: true });
  }
}

async function readOwner(file: string): Promise<LockOwner | undefined> {
  try {
    const value = JSON.parse(await fs.readFile(file, 'utf8')) as Partial<LockOwner>;
    if (!Number.isInteger(value.pid) || typeof value.hostname !== 'string') return undefined;
    return {
      pid: value.pid!,
      hostname: value.hostname,
      command: String(value.command ?? ''),
      startedAt: String(value.startedAt ?? ''),
      ...(typeof value.url === 'string' ? { url: value.url } : {}),
    };
  } catch {
    return undefined; // missing, torn or not ours: nobody holds it
  }
}

/**
 * Whether the recorded process still runs. Only a process on this machine can be checked; a
 * lock from another host (a state folder on a network share) is taken to be held.
 */
function isAlive(owner: LockOwner, file: string): boolean {
  if (owner.hostname !== os.hostname()) return true;
  // Our own pid: held by this process, or left by an earlier process that had the same pid
  // (a restarted container numbers its processes alike).
  if (owner.pid === process.pid) return heldHere.has(file);
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function inUse(root: string, holder: LockOwner): TagsmithError {
  const where = holder.url ? `, answering at ${holder.url}` : '';
  const host = holder.hostname === os.hostname() ? '' : ` on ${holder.hostname}`;
  return new TagsmithError(
    'state_in_use',
    `The state folder ${root} is in use by another Tagsmith engine (pid ${holder.pid}${host}: ${holder.command}, since ${holder.startedAt}${where}). ` +
      'Stop that engine, give this one another --state folder, or use that engine.',
  );
}

/** How this process was started, for the message. */
function processCommand(): string {
  return [path.basename(process.argv[1] ?? 'node'), ...process.argv.slice(2)].join(' ');
}

/** A token on a command line is never written down or repeated to another process. */
function withoutToken(command: string): string {
  return command.replace(/(--token[= ])\S+/g, '$1…').slice(0, 200);
}
