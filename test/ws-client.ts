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
