/**
 * The rxjs values rxgi's own code uses, each from the module that defines it. `rxjs`'s index
 * loads all of rxjs (223 modules on node: about 1.7 MB of heap and 50 ms at start), which a
 * process that uses no operator (a `handle` app, a contained Express or fetch handler) never
 * needs. These are the very objects the index exports (it re-exports these modules, and on node
 * both resolve to the same files), so `instanceof` and `isObservable` agree with an app's own
 * imports from `rxjs`; test/core/rx.test.ts checks both, and that serving loads no index.
 *
 * rxjs 7 exports these paths (`rxjs/internal/*` in its package.json); a major release that
 * moves them fails that test. Types come from `rxjs` itself (`import type` loads nothing).
 */
export { Observable } from 'rxjs/internal/Observable';
export { ReplaySubject } from 'rxjs/internal/ReplaySubject';
export { Subject } from 'rxjs/internal/Subject';
export { isObservable } from 'rxjs/internal/util/isObservable';
export { UnsubscriptionError } from 'rxjs/internal/util/UnsubscriptionError';
