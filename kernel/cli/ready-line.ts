// The line `tagsmith serve` prints once it listens, for the process that started it (the
// extension, tests) to wait for: the marker, then JSON. No imports, so the extension can
// read it without pulling in the engine.
export const READY_MARKER = 'TAGSMITH_READY ';

export interface ReadyLine {
  url: string;
  port: number;
  pid: number;
  stateDir: string;
}

export function formatReadyLine(ready: ReadyLine): string {
  return `${READY_MARKER}${JSON.stringify(ready)}`;
}

/** What a line of the server's stdout announces, or undefined for any other line. */
export function parseReadyLine(line: string): ReadyLine | undefined {
  return line.startsWith(READY_MARKER) ? (JSON.parse(line.slice(READY_MARKER.length)) as ReadyLine) : undefined;
}
