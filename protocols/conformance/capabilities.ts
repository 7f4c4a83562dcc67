/**
 * What a host can do, as the conformance suite's checks need it (docs/conformance.md). Kept
 * apart from the checks so the CLI reads the names without loading the clients.
 */

/** What a host can do; a check that needs more is skipped. */
export type Capability =
  | 'h1'
  | 'h2'
  | 'trailers'
  | 'request-trailers'
  | 'early-hints'
  | 'websocket'
  | 'websocket-h2'
  | 'tunnel-refusal'
  | 'tunnel'
  | 'continue'
  /**
   * The host enforces the limits of the bindings at the reference server's defaults or below:
   * a request head of 16 KiB and 100 fields, a body of 64 MiB, a WebSocket message of 16 MiB.
   */
  | 'limits'
  /** The host runs with a head time, a body time and a send time of 2 s (spec/server.md §2). */
  | 'timeouts';

/** Every capability: what `serve` offers. */
export const ALL_CAPABILITIES: readonly Capability[] = [
  'h1',
  'h2',
  'trailers',
  'request-trailers',
  'early-hints',
  'websocket',
  'websocket-h2',
  'tunnel-refusal',
  'tunnel',
  'continue',
  'limits',
  'timeouts',
];

/** The time limits a host that declares `timeouts` runs with (reference options). */
export const CONFORMANCE_TIMEOUTS = {
  headersTimeout: 2_000,
  bodyTimeout: 2_000,
  sendTimeout: 2_000,
} as const;
