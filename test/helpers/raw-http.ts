// HTTP at the byte level, for requests no well-behaved client sends: malformed framing, bodies
// that trickle or never end, connections cut mid-download.
import net from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
  /** The body parsed as JSON, or undefined. */
  json: any;
}

/** Parses the first complete response in `data`, or undefined while it is incomplete. */
export function parseResponse(data: Buffer, closed: boolean, bodyless = false): RawResponse | undefined {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const status = Number(statusLine.split(' ')[1]);
  if (status === 100) return parseResponse(data.subarray(end + 4), closed, bodyless);
  const length = bodyless ? 0 : headers['content-length'] === undefined ? undefined : Number(headers['content-length']);
  const body = data.subarray(end + 4);
  if (length === undefined ? !closed : body.length < length) return undefined;
  const text = body.subarray(0, length ?? body.length).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status, headers, text, json };
}

export interface RawExchange {
  socket: net.Socket;
  /** The first response, as soon as it is complete (or once the connection closes). */
  response: Promise<RawResponse>;
  /** Resolves when the server closes the connection. */
  closed: Promise<void>;
}

/**
 * Opens a connection, writes `request` and reads the answer. Write errors after the server
 * answered (it may close while a body is still being sent) are not failures.
 */
export function rawExchange(port: number, requestBytes: string | Buffer, options: { hangGuardMs?: number } = {}): RawExchange {
  const request = Buffer.isBuffer(requestBytes) ? requestBytes : Buffer.from(requestBytes);
  const socket = net.connect(port, '127.0.0.1');
  // The answer to HEAD has headers only, whatever its Content-Length says.
  const bodyless = request.subarray(0, 5).toString() === 'HEAD ';
  let data = Buffer.alloc(0);
  let settle!: (r: RawResponse) => void;
  let fail!: (e: Error) => void;
  let settled = false;
  const response = new Promise<RawResponse>((resolve, reject) => {
    settle = (r) => {
      settled = true;
      resolve(r);
    };
    fail = (e) => {
      settled = true;
      reject(e);
    };
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const guard = setTimeout(() => {
    if (!settled) fail(new Error(`no answer within ${options.hangGuardMs ?? 30_000} ms; got ${JSON.stringify(data.toString('latin1').slice(0, 300))}`));
    socket.destroy();
  }, options.hangGuardMs ?? 30_000);
  socket.on('data', (chunk: Buffer) => {
    data = Buffer.concat([data, chunk]);
    const parsed = parseResponse(data, false, bodyless);
    if (parsed && !settled) settle(parsed);
  });
  socket.on('error', () => undefined);
  socket.once('close', () => {
    clearTimeout(guard);
    if (settled) return;
    const parsed = parseResponse(data, true, bodyless);
    if (parsed) settle(parsed);
    else fail(new Error(`connection closed without an answer; got ${JSON.stringify(data.toString('latin1').slice(0, 300))}`));
  });
  socket.write(request);
  return { socket, response, closed };
}

/** A request head; `body` adds Content-Length unless the headers say chunked. */
export function requestHead(method: string, path: string, headers: Record<string, string | number> = {}): string {
  const all: Record<string, string | number> = { host: '127.0.0.1', ...headers };
  return `${method} ${path} HTTP/1.1\r\n${Object.entries(all)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n')}\r\n\r\n`;
}

/** One HTTP/1.1 chunk. */
export function chunk(data: Buffer | string): Buffer {
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data);
  return Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n')]);
}

export const LAST_CHUNK = '0\r\n\r\n';

/**
 * Writes `piece` to `socket` every `everyMs`, `times` times (a client that trickles its
 * upload); `done` resolves when it has written them all, `stop()` ends it early.
 */
export function trickle(
  socket: net.Socket,
  piece: () => Buffer,
  everyMs: number,
  times: number,
): { done: Promise<boolean>; finished: () => boolean; stop: () => void } {
  let sent = 0;
  let finished = false;
  // eslint-disable-next-line prefer-const -- assigned below, after the promise that reads it
  let timer: NodeJS.Timeout;
  let resolveDone!: (completed: boolean) => void;
  const done = new Promise<boolean>((resolve) => {
    resolveDone = resolve;
  });
  const stop = (completed = false) => {
    clearInterval(timer);
    finished = completed;
    resolveDone(completed);
  };
  timer = setInterval(() => {
    if (socket.destroyed) return stop(false);
    socket.write(piece());
    if (++sent >= times) stop(true);
  }, everyMs);
  socket.once('close', () => stop(false));
  return { done, finished: () => finished, stop: () => stop(false) };
}

/** A multipart/form-data body with one file part, the part's header given whole. */
export function multipartWithHeader(boundary: string, partHeader: string, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`--${boundary}\r\n${partHeader}\r\n\r\n`), content, Buffer.from(`\r\n--${boundary}--\r\n`)]);
}
