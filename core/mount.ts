/**
 * Mounting (SPEC.md §4.4): a host that serves an app under a path prefix and leaves the prefix
 * in the request moves it from `path` and `target` to `root`.
 */
import type { RequestEvent } from './events.js';

/**
 * @internal Move `prefix` (no trailing `/`) from the start of the request's path to its `root`,
 * when the path is the prefix or continues it at a `/`; a path outside the prefix is left as it
 * is. The prefix is appended to a `root` the request already has (a mount inside a mount).
 */
export function unmount(event: RequestEvent, prefix: string): void {
  const path = event.path;
  if (prefix === '' || !path.startsWith(prefix)) return;
  if (path.length > prefix.length && path.charCodeAt(prefix.length) !== 0x2f) return;
  const rest = path.slice(prefix.length) || '/';
  event.path = rest;
  event.target = rest + event.target.slice(path.length);
  event.root = (event.root ?? '') + prefix;
}

/** @internal A mount prefix as `unmount` takes it: `/` and a trailing `/` removed. */
export function mountPrefix(root: string): string {
  return root.endsWith('/') ? root.slice(0, -1) : root;
}
