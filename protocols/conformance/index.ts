// Node's types for TypeScript 6+, as in index.ts.
/// <reference types="node" preserve="true" />
/**
 * `rxgi/conformance`: check any host against SPEC.md over the wire. Serve
 * `conformanceFixture()` on the host, then run `runConformance(url)` (or `npx rxgi conformance
 * URL`): one result per rule id, MUST or SHOULD, skipped where the host declares it lacks a
 * capability. `checkMiddleware(middleware)` checks the app side: a middleware's handling of
 * events, in process; `checkLifespan(lifespan)` a lifespan handler's replies; `checkHostLifecycle(start)` a host's
 * lifespan and shutdown, through a function that starts and stops it. `UNTESTABLE` lists
 * the rule ids no host-agnostic check can observe, with why.
 */

export { CONFORMANCE_TIMEOUTS } from './capabilities.js';
export {
  ALL_CAPABILITIES,
  type Capability,
  CHECKS,
  type Check,
  Failure,
  type Target,
} from './checks.js';
export { conformanceFixture } from './fixture.js';
export {
  checkHostLifecycle,
  HOST_LIFECYCLE_CHECKS,
  type HostStarter,
} from './host-lifecycle.js';
export {
  checkLifespan,
  LIFESPAN_CHECKS,
  type LifespanCheckOptions,
} from './lifespan.js';
export {
  checkMiddleware,
  MIDDLEWARE_CHECKS,
  type MiddlewareCheck,
  type MiddlewareCheckOptions,
} from './middleware.js';
export {
  type ConformanceOptions,
  formatReport,
  type Report,
  type Result,
  runConformance,
} from './run.js';
export { UNTESTABLE } from './untestable.js';
