/**
 * The logger drivers and helpers write to. Replace it with `setLogger` (winston and console
 * fit as they are; pino, which takes its fields first, is adapted: {@link FieldsFirstLogger}).
 * Structured fields go in `fields`; messages say what happened.
 */
export interface Logger {
  error(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  debug(message: string, fields?: Record<string, unknown>): void;
}

const levels = ['error', 'warn', 'info', 'debug'] as const;

function threshold(): number {
  const wanted = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process
    ?.env?.RXGI_LOG;
  if (wanted === 'silent') return -1;
  const index = levels.indexOf((wanted ?? 'info') as (typeof levels)[number]);
  return index < 0 ? 2 : index;
}

function line(level: number, message: string, fields?: Record<string, unknown>): void {
  if (level > threshold()) return;
  const record = { level: levels[level], time: new Date().toISOString(), msg: message, ...fields };
  console.error(JSON.stringify(record, errorReplacer));
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    return { name: value.name, message: value.message, stack: value.stack };
  }
  return value;
}

/** The default logger: one JSON line per record on stderr; `RXGI_LOG=debug|info|warn|error|silent`. */
export const jsonLogger: Logger = {
  error: (m, f) => line(0, m, f),
  warn: (m, f) => line(1, m, f),
  info: (m, f) => line(2, m, f),
  debug: (m, f) => line(3, m, f),
};

const COLORS = ['\x1b[31m', '\x1b[33m', '\x1b[36m', '\x1b[90m'] as const;

function prettyLine(level: number, message: string, fields?: Record<string, unknown>): void {
  if (level > threshold()) return;
  const time = new Date().toISOString().slice(11, 23);
  const name = levels[level].toUpperCase().padEnd(5);
  const tty = (globalThis as { process?: { stderr?: { isTTY?: boolean } } }).process?.stderr?.isTTY;
  // Colors for a person at a terminal only; a file or a pipe gets the plain text.
  let text = tty
    ? `${time} ${COLORS[level]}${name}\x1b[0m ${message}`
    : `${time} ${name} ${message}`;
  let stack = '';
  for (const key in fields) {
    const value = fields[key];
    if (value instanceof Error) {
      text += ` ${key}=${JSON.stringify(value.message)}`;
      stack += `\n${value.stack ?? ''}`;
    } else if (value !== undefined) {
      text += ` ${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`;
    }
  }
  console.error(text + stack);
}

/**
 * A logger for a terminal: `HH:MM:SS.mmm LEVEL message key=value ...`, the level in color on a
 * TTY, an error's stack below its line. The CLI uses it when stderr is a terminal (`--log-format`).
 */
export const prettyLogger: Logger = {
  error: (m, f) => prettyLine(0, m, f),
  warn: (m, f) => prettyLine(1, m, f),
  info: (m, f) => prettyLine(2, m, f),
  debug: (m, f) => prettyLine(3, m, f),
};

/**
 * A logger that takes the fields first and the message second, `info(fields, message)`, as
 * pino does. `setLogger` knows one by its `levels.values` table (pino's), and calls it with
 * the same fields: the message becomes pino's `msg`, the fields its record's properties.
 */
export interface FieldsFirstLogger {
  error(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  debug(fields: Record<string, unknown>, message: string): void;
  /** pino's level table (`{ values: { info: 30, … } }`): what marks a fields-first logger. */
  levels: { values: Record<string, number> };
}

function isFieldsFirst(candidate: Logger | FieldsFirstLogger): candidate is FieldsFirstLogger {
  const levels = (candidate as { levels?: { values?: unknown } }).levels;
  return typeof levels === 'object' && levels !== null && typeof levels.values === 'object';
}

const NO_FIELDS: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

/**
 * The fields as a fields-first logger gets them: an Error becomes `{ name, message, stack }`,
 * as the JSON logger writes it (pino would write an Error under any key but `err` as `{}`).
 */
function plainFields(fields: Record<string, unknown> | undefined): Record<string, unknown> {
  if (fields === undefined) return NO_FIELDS;
  let plain: Record<string, unknown> | null = null;
  for (const key in fields) {
    const value = fields[key];
    if (value instanceof Error) {
      plain ??= { ...fields };
      plain[key] = errorReplacer(key, value);
    }
  }
  return plain ?? fields;
}

/** Adapt a fields-first logger (pino) to rxgi's `Logger`. */
function fromFieldsFirst(base: FieldsFirstLogger): Logger {
  return {
    error: (message, fields) => base.error(plainFields(fields), message),
    warn: (message, fields) => base.warn(plainFields(fields), message),
    info: (message, fields) => base.info(plainFields(fields), message),
    debug: (message, fields) => base.debug(plainFields(fields), message),
  };
}

let current: Logger = jsonLogger;

/** The logger in use. */
export function logger(): Logger {
  return current;
}

/**
 * Replace the logger for every driver and helper in this process: an rxgi `Logger`
 * (`info(message, fields)`), or a pino logger, which is called `info(fields, message)`.
 *
 * @example
 * import pino from 'pino';
 * setLogger(pino({ level: 'debug' }));
 */
export function setLogger(next: Logger): void;
export function setLogger(next: FieldsFirstLogger): void;
export function setLogger(next: Logger | FieldsFirstLogger): void {
  current = isFieldsFirst(next) ? fromFieldsFirst(next) : next;
}
