/**
 * `rxgi/events`: the event model (SPEC.md §4) and its codec (§10), for code that works with
 * events as data: bridges, recorders, tools. App authors find the common names in `rxgi`.
 */
export { decodeEvent, encodeEvent } from './codec.js';
export * from './events.js';
