// What the user reads when something fails: the engine's own message (never a stack), and an
// action where one helps.
export type ErrorAction = 'showLog' | 'addSamples' | 'restartEngine' | undefined;

export interface UserMessage {
  text: string;
  action: ErrorAction;
  actionLabel?: string;
}

export function describeError(error: unknown): UserMessage {
  const e = error as { code?: string; message?: string };
  const message = typeof e?.message === 'string' && e.message ? e.message : String(error);
  switch (e?.code) {
    case 'not_enough_samples':
      return { text: message, action: 'addSamples', actionLabel: 'Add Samples…' };
    case 'engine_unreachable':
    case 'timeout':
      return { text: `The Tagsmith engine is not answering: ${message}`, action: 'restartEngine', actionLabel: 'Restart Engine' };
    case 'internal':
      return { text: `Tagsmith hit an internal error: ${message}`, action: 'showLog', actionLabel: 'Show Log' };
    case undefined:
      return { text: `Tagsmith: ${message}`, action: 'showLog', actionLabel: 'Show Log' };
    default:
      return { text: message, action: undefined };
  }
}
