// Node's types for TypeScript 6+, as in index.ts.
/// <reference types="node" preserve="true" />
/**
 * `rxgi/remote`: apps served by workers over a bus (docs/compatibility.md). `remoteApp` forwards a
 * server's connections to whichever worker runs the app; `runWorker` is the worker's side.
 */
export { type RemoteApp, type RemoteOptions, type RemoteStats, remoteApp } from './forward.js';
export { type RemoteWorker, runWorker, type WorkerOptions } from './worker.js';
