/**
 * `--bus URL`: which bridge a URL names (spec/actors.md §7). The bridges load their client library
 * on first use, so this file costs nothing to apps that never use a broker.
 */
import type { Bus } from '../../core/bus.js';

/** The URL schemes `openBus` accepts, and the bridge each one opens. */
export const BUS_SCHEMES = ['redis:', 'rediss:', 'nats:'] as const;

/** What is wrong with a bus URL, or null when `openBus` can try it. */
export function busUrlError(url: string): string | null {
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    return `not a URL: ${JSON.stringify(url)} (expected redis://host:port or nats://host:port)`;
  }
  if ((BUS_SCHEMES as readonly string[]).includes(protocol)) return null;
  const supported = BUS_SCHEMES.map((scheme) => `${scheme}//`).join(', ');
  return `unsupported bus URL scheme ${protocol}// in ${JSON.stringify(url)}; supported: ${supported}`;
}

/**
 * Connect the bus a URL names: `redis://` or `rediss://` opens the Redis bridge, `nats://` the
 * NATS bridge. Rejects with an error naming the supported schemes for anything else, and with
 * the bridge's error when the broker cannot be reached.
 */
export async function openBus(url: string): Promise<Bus> {
  const error = busUrlError(url);
  if (error !== null) throw new Error(`bus: ${error}`);
  if (new URL(url).protocol === 'nats:') {
    const { natsBus } = await import('./nats.js');
    return natsBus(url);
  }
  const { redisBus } = await import('./redis.js');
  return redisBus(url);
}
