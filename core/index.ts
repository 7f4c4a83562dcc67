/**
 * `rxgi/events`: the event model (SPEC.md §3) and its codec (§9), for code that works with
 * events as data: bridges, recorders, tools. App authors find the common names in `rxgi`.
 */
export { decodeEvent, encodeEvent } from './codec.js';
export * from './events.js';
