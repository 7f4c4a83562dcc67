// The generated bodies of the bulk downloads (bench/bulk.mjs), the same for both servers:
// `size` bytes of one 64 KiB buffer, handed out again and again (no copy), as an async
// generator, a node Readable or a web ReadableStream.
import { Readable } from 'node:stream';

export const CHUNK = Buffer.alloc(65_536, 0x61);

export function piece(left) {
  return left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
}

export async function* iterable(size) {
  for (let left = size; left > 0; left -= CHUNK.length) yield piece(left);
}

export function readable(size) {
  let left = size;
  return new Readable({
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const chunk = piece(left);
      left -= chunk.length;
      this.push(chunk);
    },
  });
}

export function web(size) {
  let left = size;
  return new ReadableStream({
    pull(controller) {
      if (left <= 0) {
        controller.close();
        return;
      }
      const chunk = piece(left);
      left -= chunk.length;
      controller.enqueue(chunk);
    },
  });
}

export const KINDS = { iterable, readable, web };

/** Write `size` bytes of `chunk` to `sink` as fast as it takes them, then end it. */
export function pour(sink, size, chunk = CHUNK) {
  let left = size;
  const more = () => {
    while (left > 0) {
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      if (!sink.write(piece)) {
        sink.once('drain', more);
        return;
      }
    }
    sink.end();
  };
  more();
}
