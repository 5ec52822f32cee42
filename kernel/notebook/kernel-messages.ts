// The messages between the VS Code notebook controller and its kernel process (Node IPC).
import type { CellOutput } from './cell-executor';

export type KernelRequest =
  | { type: 'execute'; id: number; code: string }
  | { type: 'complete'; id: number; code: string; position: number }
  | { type: 'inspect'; id: number; code: string; position: number }
  | { type: 'interrupt' };

export type KernelEvent =
  | { type: 'ready'; versions: Record<string, string>; tagsmith: boolean }
  | { type: 'output'; id: number; output: CellOutput }
  | { type: 'done'; id: number; ok: boolean }
  | { type: 'completion'; id: number; start: number; end: number; candidates: string[] }
  | { type: 'hover'; id: number; text?: string };
