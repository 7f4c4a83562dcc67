import { Decoder, Encoder } from '@msgpack/msgpack';
import { ERR, RxgiError } from './errors.js';
import type { RxgiEvent } from './events.js';

const encoder = new Encoder({ ignoreUndefined: true });
const decoder = new Decoder();

/** Encode an event as msgpack (SPEC.md §10). Bytes stay bytes, strings stay strings. */
export function encodeEvent(event: RxgiEvent): Uint8Array {
  return encoder.encode(event);
}

/**
 * Decode an event encoded by `encodeEvent`. Fails with RXGI_ERR_BAD_ENCODING when the bytes are
 * not msgpack or not an object with a string `type` and an integer `stream`.
 */
export function decodeEvent(bytes: Uint8Array): RxgiEvent {
  let value: unknown;
  try {
    value = decoder.decode(bytes);
  } catch (error) {
    throw new RxgiError(ERR.BAD_ENCODING, 'the bytes are not msgpack', 400, { cause: error });
  }
  const event = value as { type?: unknown; stream?: unknown } | null;
  if (
    typeof event !== 'object' ||
    event === null ||
    typeof event.type !== 'string' ||
    !Number.isInteger(event.stream)
  ) {
    throw new RxgiError(ERR.BAD_ENCODING, 'the value is not an rxgi event', 400);
  }
  return event as RxgiEvent;
}
