import { appendFileSync } from 'node:fs';
import { afterEach, beforeEach, expect } from 'vitest';
import { type Logger, logger, setLogger } from '../core/log.js';
import { spawned } from './helpers.js';

/**
 * Every test file runs with a sentinel on the logger and on the servers it spawns: an internal
 * error (`RXGI_ERR_INTERNAL`, SPEC.md §8.1) is a bug that the drivers' boundary contained, and
 * it must never happen in the normal suite. A test that provokes one on purpose says so with
 * `allowInternalErrors()`.
 */
let faults: string[] = [];
let allowed = false;

export function allowInternalErrors(): void {
  allowed = true;
}

const base = logger();
const sentinel: Logger = {
  error(message, fields) {
    if (fields?.code === 'RXGI_ERR_INTERNAL') faults.push(`${message} ${String(fields.error)}`);
    base.error(message, fields);
  },
  warn: (message, fields) => base.warn(message, fields),
  info: (message, fields) => base.info(message, fields),
  debug: (message, fields) => base.debug(message, fields),
};
setLogger(sentinel);

/**
 * A worker that dies natively (a failed CHECK in node prints `node[PID]: ... Assertion failed`)
 * takes its test's name with it: vitest reports only a dead worker. With `RXGI_TEST_PIDS` set to
 * a file, each test appends `pid, file, test` there first, so the PID in such a message names
 * the file and the test that was running (`.ci/run` sets it).
 */
const pids = process.env.RXGI_TEST_PIDS;

beforeEach(() => {
  if (pids) {
    const { testPath, currentTestName } = expect.getState();
    appendFileSync(pids, `${process.pid}\t${testPath ?? ''}\t${currentTestName ?? ''}\n`);
  }
  faults = [];
  allowed = false;
});

afterEach(() => {
  if (allowed) return;
  for (const child of spawned) {
    if (child.stderr().includes('RXGI_ERR_INTERNAL')) faults.push(child.stderr());
  }
  if (faults.length > 0) throw new Error(`internal errors were logged:\n${faults.join('\n')}`);
});
