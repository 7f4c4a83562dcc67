import WebSocket from 'ws';

/** Open a `ws` client to an http(s) URL's WebSocket twin. */
export function openWebSocket(
  url: string,
  protocols?: string[],
  options?: WebSocket.ClientOptions,
): Promise<WebSocket> {
  const ws = new WebSocket(url.replace('http', 'ws'), protocols, options);
  return new Promise<WebSocket>((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** The next message, with whether it came as binary. */
export function nextMessage(ws: WebSocket) {
  return new Promise<{ data: Buffer; binary: boolean }>((resolve) =>
    ws.once('message', (data: Buffer, binary: boolean) => resolve({ data, binary })),
  );
}

/** The close code and reason, once the session closes. */
export function closed(ws: WebSocket) {
  return new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
}

/** A masked client WebSocket frame (RFC 6455 §5.2). */
export function wsFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const length = payload.length;
  const head =
    length < 126
      ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | length])
      : Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 126, length >> 8, length & 0xff]);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i] ^= mask[i % 4];
  return Buffer.concat([head, mask, masked]);
}
