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
  | 'continue';

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
];
