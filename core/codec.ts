import { Decoder, type DecoderOptions, Encoder, type ExtensionCodecType } from '@msgpack/msgpack';
import { ERR, RxgiError } from './errors.js';
import type { RxgiEvent } from './events.js';

/**
 * Refuses every msgpack extension type when decoding: by default a timestamp (type -1) would
 * decode to a `Date` and any other type to an `ExtData`, objects that are not plain data
 * (SPEC.md §9). Encoding never produces one from plain data.
 */
const plainOnly: ExtensionCodecType<undefined> = {
  tryToEncode: () => null,
  decode(_data, type) {
    throw new RxgiError(
      ERR.BAD_ENCODING,
      `msgpack extension type ${type} is not plain data; events and messages carry none`,
      400,
    );
  },
};

/** A msgpack decoder that yields plain data only (no extension types), for bytes from outside. */
export function plainDecoder(options: Omit<DecoderOptions, 'extensionCodec'> = {}): Decoder {
  return new Decoder({ ...options, extensionCodec: plainOnly });
}

const encoder = new Encoder({ ignoreUndefined: true });
const decoder = plainDecoder();

/** Encode an event as msgpack (SPEC.md §9). Bytes stay bytes, strings stay strings. */
export function encodeEvent(event: RxgiEvent): Uint8Array {
  return encoder.encode(event);
}

/**
 * Decode an event encoded by `encodeEvent`. Fails with RXGI_ERR_BAD_ENCODING when the bytes are
 * not msgpack, hold a msgpack extension type, or are not an object with a string `type` and an
 * integer `stream`.
 */
export function decodeEvent(bytes: Uint8Array): RxgiEvent {
  let value: unknown;
  try {
    value = decoder.decode(bytes);
  } catch (error) {
    if (error instanceof RxgiError) throw error;
    throw new RxgiError(ERR.BAD_ENCODING, 'the bytes are not msgpack', 400, { cause: error });
  }
  const event = value as { type?: unknown; stream?: unknown } | null;
  if (
    typeof event !== 'object' ||
    event === null ||
    Array.isArray(event) ||
    typeof event.type !== 'string' ||
    !Number.isInteger(event.stream)
  ) {
    throw new RxgiError(ERR.BAD_ENCODING, 'the value is not an rxgi event', 400);
  }
  return event as RxgiEvent;
}
