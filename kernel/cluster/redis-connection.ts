// How coordinators and workers reach Redis: a redis:// (or rediss://) URL, reconnecting within
// two seconds of Redis coming back (BullMQ's default waits up to twenty), and the URL as messages
// show it (without its password).
import type { ConnectionOptions } from 'bullmq';
import { TagsmithError } from '../errors';

export function redisConnection(url: string): ConnectionOptions {
  checkRedisUrl(url);
  return { url, retryStrategy: (times: number) => Math.min(200 * times, 2_000) };
}

export function checkRedisUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TagsmithError('invalid_option', `--redis must be a URL such as redis://host:6379; got ${JSON.stringify(url.slice(0, 200))}.`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new TagsmithError('invalid_option', `--redis must be a redis:// or rediss:// URL; got ${shownRedisUrl(url)}.`);
  }
}

/** The URL with its password masked, for messages and logs. */
export function shownRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(not a URL)';
  }
}
