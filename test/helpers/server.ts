// A real engine behind a real HTTP server on a free loopback port.
import fs from 'node:fs/promises';
import http from 'node:http';
import { afterEach } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { TagsmithClient } from '../../kernel/client/tagsmith-client';
import type { EngineOptions, TagsmithEngine } from '../../kernel/engine/tagsmith-engine';
import { createServer, DEFAULT_MAX_ARCHIVE, type ServerOptions } from '../../kernel/http/server';
import { openTestEngine } from './engine';

export interface TestServer {
  url: string;
  port: number;
  engine: TagsmithEngine;
  client: TagsmithClient;
  log: string[];
  /** Stops the server and the engine; the state folder is removed unless `keepState`. */
  close(options?: { keepState?: boolean }): Promise<void>;
}

/** `stateDir`: a folder of the test's (removed on close like a fresh one). */
export async function startTestServer(
  options: Partial<ServerOptions> = {},
  stateDir?: string,
  engineOptions: Partial<EngineOptions> = {},
): Promise<TestServer> {
  const { engine } = await openTestEngine(stateDir, engineOptions);
  const log: string[] = [];
  const app: FastifyInstance = await createServer(engine, {
    allowedOrigins: [],
    checkHost: true,
    maxUploadBytes: 50 * 1024 * 1024,
    maxArchiveBytes: DEFAULT_MAX_ARCHIVE,
    log: (line) => log.push(line),
    ...options,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    engine,
    log,
    client: new TagsmithClient({ url, token: options.token }),
    async close({ keepState = false } = {}) {
      await app.close();
      await engine.close();
      if (!keepState) await fs.rm(engine.stateDir, { recursive: true, force: true });
    },
  };
}

/**
 * For tests that change a server's state: `const ownServer = serversPerTest()` in a describe (or
 * at the top of a file), then `await ownServer(…)` in a test starts one that is closed (and its
 * state removed) after that test, whatever happened.
 */
export function serversPerTest(): typeof startTestServer {
  const started: TestServer[] = [];
  afterEach(async () => {
    for (const server of started.splice(0)) await server.close();
  });
  return async (...args) => {
    const server = await startTestServer(...args);
    started.push(server);
    return server;
  };
}

/** A raw request with full control of headers (fetch forbids setting Host). */
export function rawRequest(
  port: number,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: Buffer },
): Promise<{ status: number; json: any; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path, headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = text;
        }
        resolve({ status: res.statusCode ?? 0, json, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A multipart body with one file field, as curl -F "name=@file" sends it. */
export function multipartBody(
  field: string,
  fileName: string,
  content: Buffer,
  contentType = 'application/octet-stream',
): { body: Buffer; headers: Record<string, string> } {
  const boundary = `----tagsmith${Math.random().toString(16).slice(2)}`;
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${fileName}"\r\nContent-Type: ${contentType}\r\n\r\n`),
    content,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(body.length) } };
}
