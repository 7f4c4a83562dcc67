// Node's types for TypeScript 6+, as in index.ts.
/// <reference types="node" preserve="true" />
/**
 * `rxgi/fetch`: the fetch API's `(Request) => Response` world and rxgi, both ways. `fromFetch`
 * runs a fetch-style handler (Hono, itty, a plain function) as an rxgi app; `toFetch` runs an
 * rxgi app as a fetch handler.
 */
export {
  type FetchEnv,
  type FetchHandler,
  type FromFetchOptions,
  fromFetch,
} from './from-fetch.js';
export { type ToFetchOptions, toFetch } from './to-fetch.js';
