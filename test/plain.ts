/**
 * Shared by the fuzz tests of the decoders that read bytes from outside: arbitrary msgpack
 * values, extension types among them, and a check that a decoded value is plain data.
 */
import { Encoder, ExtData } from '@msgpack/msgpack';
import fc from 'fast-check';

/** True when `value` is plain data (SPEC.md §9): no Date, no ExtData, no class instance. */
export function isPlain(value: unknown, depth = 0): boolean {
  if (depth > 200) return false;
  if (value === null) return true;
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'number':
      return true;
    case 'object':
      if (value instanceof Uint8Array) return Object.getPrototypeOf(value) === Uint8Array.prototype;
      if (Array.isArray(value)) return value.every((item) => isPlain(item, depth + 1));
      return (
        Object.getPrototypeOf(value) === Object.prototype &&
        Object.values(value).every((item) => isPlain(item, depth + 1))
      );
    default:
      return false;
  }
}

/** Any msgpack value, foreign ones included: timestamps (Dates) and other extension types. */
export const msgpackValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double(),
    fc.string(),
    fc.uint8Array({ maxLength: 16 }),
    fc.date({ noInvalidDate: true }),
    fc
      .tuple(fc.integer({ min: -128, max: 127 }), fc.uint8Array({ maxLength: 20 }))
      .map(([type, data]) => new ExtData(type, data)),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** Only plain data, as apps send it. */
export const plainValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    // msgpack has one zero: -0 comes back as 0.
    fc.double({ noNaN: true }).map((x) => (Object.is(x, -0) ? 0 : x)),
    fc.string(),
    fc.uint8Array({ maxLength: 16 }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(
      fc.string({ maxLength: 8 }).filter((key) => key !== '__proto__'),
      tie('value'),
      { maxKeys: 4, noNullPrototype: true },
    ),
  ),
})).value;

/** msgpack with every extension type the encoder knows (Date as timestamp, ExtData as is). */
export const foreignEncoder = new Encoder();

/** `bytes` damaged: truncated, a byte changed, or bytes inserted. */
export function damaged(bytes: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(bytes, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 2 }))
    .map(([source, at, byte, how]) => {
      const out = Uint8Array.from(source);
      if (out.length === 0) return Uint8Array.of(byte);
      const i = at % out.length;
      if (how === 0) return out.subarray(0, i);
      if (how === 1) {
        out[i] = byte;
        return out;
      }
      return Uint8Array.from([...out.subarray(0, i), byte, ...out.subarray(i)]);
    });
}
