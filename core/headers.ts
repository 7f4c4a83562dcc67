import type { HeaderList } from './events.js';

/** The first value of header `name` (lower case), or undefined. */
export function getHeader(headers: HeaderList, name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === name) return headers[i + 1];
  }
  return undefined;
}

/** Every value of header `name` (lower case), in order. */
export function getHeaders(headers: HeaderList, name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === name) values.push(headers[i + 1]);
  }
  return values;
}

/** A header list from an object; array values become repeated fields. Names are lower-cased. */
export function headerList(record: Record<string, string | number | string[]>): HeaderList {
  const list: HeaderList = [];
  for (const name of Object.keys(record)) {
    const value = record[name];
    const key = name.toLowerCase();
    if (Array.isArray(value)) for (const v of value) list.push(key, v);
    else list.push(key, String(value));
  }
  return list;
}

/** True when a comma-separated header (`connection`, `te`) lists `token`, case-insensitively. */
export function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  for (const part of value.split(',')) {
    if (part.trim().toLowerCase() === token) return true;
  }
  return false;
}

/**
 * True when field name `field` is `name` (lower case) in any case. Names nearly always differ in
 * length or are already lower case: only a same-length name in other case is lowered.
 */
function sameName(field: string, name: string): boolean {
  return field === name || (field.length === name.length && field.toLowerCase() === name);
}

/** True when `headers` has a field `name` (lower case), whatever the case of its name there. */
export function hasField(headers: HeaderList, name: string): boolean {
  for (let i = 0; i < headers.length; i += 2) if (sameName(headers[i], name)) return true;
  return false;
}

/** Throws where a header list has a name without a value, as node:http does for a head. */
export function assertPairs(list: HeaderList): void {
  if ((list.length & 1) !== 0) {
    throw new TypeError(`The header list has an odd length (${list.length}): a name has no value`);
  }
}

/**
 * A copy of `headers` with the field `name: value` added at the end, in an array of its exact
 * size (`slice()` then `push` would grow the copy's store to 19 slots for a 2-field list).
 */
export function withField(headers: HeaderList, name: string, value: string): HeaderList {
  const length = headers.length;
  const copy: string[] = new Array(length + 2);
  for (let i = 0; i < length; i++) copy[i] = headers[i];
  copy[length] = name;
  copy[length + 1] = value;
  return copy;
}

/** A copy of `headers` without the fields named `name` (lower case). */
export function withoutField(headers: HeaderList, name: string): HeaderList {
  const kept: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (!sameName(headers[i], name)) kept.push(headers[i], headers[i + 1]);
  }
  return kept;
}

/** A header list with lower-case names, from node's raw list (names as the peer wrote them). */
export function lowerNames(raw: string[]): HeaderList {
  const list: HeaderList = new Array(raw.length);
  for (let i = 0; i < raw.length; i += 2) {
    list[i] = raw[i].toLowerCase();
    list[i + 1] = raw[i + 1];
  }
  return list;
}

/**
 * Response fields that take one value (RFC 9110 §5.3: a sender must not repeat a field that is
 * not a list). A response that repeats one fails its stream on every driver (SPEC.md §8.2).
 */
const SINGLETONS = new Set([
  'access-control-allow-credentials',
  'access-control-allow-origin',
  'access-control-max-age',
  'age',
  'content-length',
  'content-location',
  'content-range',
  'content-type',
  'date',
  'etag',
  'expires',
  'last-modified',
  'location',
  'retry-after',
]);
/** The lengths of those names: a name of another length is none of them, in any case. */
const SINGLETON_LENGTHS = new Set([...SINGLETONS].map((name) => name.length));

/** The first name in `headers` that repeats a single-value field (SPEC.md §8.2), or null. */
export function repeatedSingleton(headers: HeaderList): string | null {
  let seen: string[] | null = null;
  for (let i = 0; i < headers.length; i += 2) {
    let name = headers[i];
    if (!SINGLETONS.has(name)) {
      if (!SINGLETON_LENGTHS.has(name.length)) continue;
      name = name.toLowerCase();
      if (!SINGLETONS.has(name)) continue;
    }
    if (seen === null) seen = [name];
    else if (seen.includes(name)) return name;
    else seen.push(name);
  }
  return null;
}
