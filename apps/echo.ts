import { getHeader, handle, upgrade } from 'rxgi';

/**
 * Echo: an HTTP request gets its own body back with its content-type, streamed with flow
 * control (the upload is read only as fast as the client reads the answer); a WebSocket session
 * gets every message back as it came, text as text and binary as binary.
 */
export default handle((req) => {
  if (req.websocket) return upgrade((messages) => messages);
  const type = getHeader(req.headers, 'content-type') ?? 'application/octet-stream';
  return { status: 200, headers: ['content-type', type], body: req.body };
});
