/**
 * The bus envelope (spec/actors.md §5): what one actor message looks like on a bus. A msgpack array
 * `[version, kind, from, to, data]`, versioned so that a process never misreads a message from a
 * newer or older rxgi; bytes stay bytes and strings stay strings.
 */
import { type Decoder, Encoder } from '@msgpack/msgpack';
import { plainDecoder } from './codec.js';
import type { Value } from './events.js';

/** The envelope version this runtime writes and reads. */
export const ENVELOPE_VERSION = 1;

/** What an envelope carries. */
export const ENVELOPE_KIND = {
  /** `data` for the address `to`. */
  SEND: 1,
  /** `data` for every member of the group `to`. */
  GROUP: 2,
  /** The address `from` refused a message from `to`; `data` is the reason. */
  NACK: 3,
} as const;

export type EnvelopeKind = (typeof ENVELOPE_KIND)[keyof typeof ENVELOPE_KIND];

/** A decoded envelope. */
export interface Envelope {
  kind: EnvelopeKind;
  from: string;
  to: string;
  data: Value;
}

const encoder = new Encoder({ ignoreUndefined: true });
const decoder = plainDecoder();

/** Encode an envelope; throws when `data` is not plain data msgpack can carry. */
export function encodeEnvelope(
  kind: EnvelopeKind,
  from: string,
  to: string,
  data: Value,
): Uint8Array {
  assertPlain(data, 0);
  return encoder.encode([ENVELOPE_VERSION, kind, from, to, data]);
}

/** Why an envelope was refused on arrival. */
export type EnvelopeRefusal = 'malformed' | 'version';

/**
 * Open a msgpack array `[version, a, b, c, d]` of the given version: its four fields, or why
 * not (`version` for another version, `malformed` for anything else). Never throws. The bus
 * envelope and the remote-worker frame share this shape.
 */
export function openVersioned(
  bytes: Uint8Array,
  version: number,
  using: Decoder = decoder,
): [unknown, unknown, unknown, unknown] | EnvelopeRefusal {
  let value: unknown;
  try {
    value = using.decode(bytes);
  } catch {
    return 'malformed';
  }
  if (!Array.isArray(value) || value.length !== 5) return 'malformed';
  if (value[0] !== version) return typeof value[0] === 'number' ? 'version' : 'malformed';
  return [value[1], value[2], value[3], value[4]];
}

/** Decode an envelope, or say why it is not one this runtime reads. Never throws. */
export function decodeEnvelope(bytes: Uint8Array): Envelope | EnvelopeRefusal {
  const fields = openVersioned(bytes, ENVELOPE_VERSION);
  if (typeof fields === 'string') return fields;
  const [kind, from, to, data] = fields;
  if (kind !== ENVELOPE_KIND.SEND && kind !== ENVELOPE_KIND.GROUP && kind !== ENVELOPE_KIND.NACK)
    return 'malformed';
  if (typeof from !== 'string' || typeof to !== 'string') return 'malformed';
  return { kind, from, to, data: data as Value };
}

/**
 * msgpack would encode a Map, a Date or a class instance as something else, and a function not
 * at all: only plain data crosses a bus unchanged, so anything else is refused up front.
 */
function assertPlain(value: unknown, depth: number): void {
  if (depth > 64) throw new TypeError('message data is nested too deeply');
  if (value === null) return;
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'number':
      return;
    case 'object':
      if (value instanceof Uint8Array) return;
      if (Array.isArray(value)) {
        for (const item of value) assertPlain(item, depth + 1);
        return;
      }
      if (Object.getPrototypeOf(value) === Object.prototype) {
        for (const item of Object.values(value)) assertPlain(item, depth + 1);
        return;
      }
      throw new TypeError(`message data holds a ${value.constructor?.name ?? 'non-plain object'}`);
    default:
      throw new TypeError(`message data holds a ${typeof value}`);
  }
}
