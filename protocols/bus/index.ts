// Node's types for TypeScript 6+, as in index.ts.
/// <reference types="node" preserve="true" />
/**
 * `rxgi/bus`: actors across processes and machines (spec/actors.md). The hub, the bus interface
 * with its building blocks, and the bridges to Redis and NATS.
 */
export {
  type Bus,
  type BusStats,
  MemoryBus,
  OUTAGE_BUFFER,
  OutageBuffer,
  type OutageLimits,
  Throttled,
} from '../../core/bus.js';
export {
  type Delivery,
  HUB_DEFAULTS,
  Hub,
  type HubOptions,
  type HubStats,
  type Mailbox,
} from '../../core/hub.js';
export { NatsBus, type NatsBusOptions, natsBus } from './nats.js';
export { RedisBus, type RedisBusOptions, redisBus } from './redis.js';
export { BUS_SCHEMES, openBus } from './url.js';
