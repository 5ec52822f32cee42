// Who may talk to the engine. It listens on loopback, where any web page the user opens could
// reach it too: so a request must name a loopback Host (no DNS rebinding), must not come from
// another site's page (Origin, Sec-Fetch-Site), and must carry the token when one is set.
import crypto from 'node:crypto';
import { TagsmithError } from '../errors';

export interface GuardOptions {
  /** Bearer token every request must carry; undefined = none (loopback only). */
  token?: string;
  /** Origins (scheme://host[:port]) whose pages may call the API, e.g. a trusted local UI. */
  allowedOrigins: string[];
  /** When the server listens beyond loopback, Host names are not checked (the token guards). */
  checkHost: boolean;
}

export type Headers = Record<string, string | string[] | undefined>;

const LOOPBACK_NAMES = new Set(['localhost', 'localhost.', '::1', '0:0:0:0:0:0:0:1']);

export function isLoopbackHostname(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return LOOPBACK_NAMES.has(name) || /^127(\.\d{1,3}){3}$/.test(name) || name.endsWith('.localhost');
}

/** The host name of a Host header, without its port. */
export function hostnameOf(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  return host.replace(/:\d+$/, '');
}

/** Throws `forbidden` or `unauthorized` for a request that must not be served. */
export function guardRequest(headers: Headers, options: GuardOptions): void {
  const header = (name: string) => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  if (options.checkHost) {
    const host = header('host');
    if (!host || !isLoopbackHostname(hostnameOf(host))) {
      throw new TagsmithError('forbidden', `Host ${JSON.stringify(host ?? '')} is not this machine's loopback name; requests must use 127.0.0.1 or localhost.`);
    }
  }
  const origin = header('origin');
  if (origin !== undefined && !options.allowedOrigins.includes(origin)) {
    throw new TagsmithError('forbidden', `Requests from web pages at ${origin} are not allowed.`);
  }
  const site = header('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none' && !(origin && options.allowedOrigins.includes(origin))) {
    throw new TagsmithError('forbidden', `Requests from other sites' pages (Sec-Fetch-Site: ${site}) are not allowed.`);
  }
  if (options.token !== undefined) {
    const auth = header('authorization') ?? '';
    const given = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!safeEqual(given, options.token)) throw new TagsmithError('unauthorized', 'This engine needs "Authorization: Bearer <token>".');
  }
}

function safeEqual(a: string, b: string): boolean {
  const x = crypto.createHash('sha256').update(a).digest();
  const y = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(x, y) && a.length === b.length;
}
