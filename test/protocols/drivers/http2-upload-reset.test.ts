import { constants } from 'node:http2';
import { type App, type InboundEvent, selfSignedCertificate } from 'rxgi';
import { filter, map, tap } from 'rxjs';
import { afterAll, describe, expect, it } from 'vitest';
import { data, headers, open, PREFACE, request, rstStream, settings } from '../../h2frames.js';
import { closeServers, start } from '../../helpers.js';

afterAll(closeServers);

/**
 * A client resets an upload half-way (RST_STREAM CANCEL after one DATA frame). The app must
 * learn that the body was cut short: a `close` with code 8, and never a `data` with `end: true`
 * (which would tell it the body was complete). node's stream emits 'end' when it is reset; the
 * driver took that for the end of the body.
 */
describe.each([false, true])('an HTTP/2 upload reset half-way (tls: %s)', (tls) => {
  it('reaches the app as close 8, never as a complete body', async () => {
    const seen: InboundEvent[] = [];
    let gotData: () => void = () => {};
    const dataArrived = new Promise<void>((resolve) => {
      gotData = resolve;
    });
    let gotClose: () => void = () => {};
    const closeArrived = new Promise<void>((resolve) => {
      gotClose = resolve;
    });
    const app: App = (events) =>
      events.pipe(
        tap((event) => {
          if (event.stream === 0) return;
          seen.push(event);
          if (event.type === 'data') gotData();
          if (event.type === 'close') gotClose();
        }),
        filter((event) => event.type === 'request'),
        map((request) => ({ type: 'window' as const, stream: request.stream, bytes: 1 << 20 })),
      );
    const server = await start(app, tls ? { tls: await selfSignedCertificate() } : {});
    // Raw frames: node's client half-closes a stream it closes, so only raw frames send a
    // reset with the body still open.
    const socket = await open(server.port, tls);
    try {
      socket.write(
        Buffer.concat([
          PREFACE,
          settings(),
          headers(1, request('POST', '/up', [['content-type', 'text/plain']]), false),
          data(1, 'first part'),
        ]),
      );
      await dataArrived;
      socket.write(rstStream(1, constants.NGHTTP2_CANCEL));
      await closeArrived;
      await new Promise((resolve) => setTimeout(resolve, 50));
      const types = seen.map((event) =>
        event.type === 'data' ? `data${event.end ? ' end' : ''}` : event.type,
      );
      expect(types).toEqual(['request', 'data', 'close']);
      expect(seen.at(-1)).toMatchObject({ type: 'close', code: constants.NGHTTP2_CANCEL });
    } finally {
      socket.destroy();
    }
  });
});
