import { createRequire } from 'node:module';
import type * as Ws from 'ws';

let loaded: typeof Ws | null = null;

/**
 * The `ws` package, loaded at its first use: a server's first WebSocket handshake. It brings
 * node's `tls`, `https` and `zlib` with it, about 1.4 MB of heap that a server which never
 * upgrades a connection does not hold (and keeps it under V8's 8 MB threshold for incremental
 * marking longer: docs/internals.md, "Bulk bodies"). Loaded as `require` would load it: the
 * same classes its ES module re-exports.
 */
export function wsModule(): typeof Ws {
  loaded ??= createRequire(import.meta.url)('ws') as typeof Ws;
  return loaded;
}
