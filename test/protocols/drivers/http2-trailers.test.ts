import { constants } from 'node:http2';
import type { App, OutboundEvent } from 'rxgi';
import { filter, mergeMap } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { exchange, session } from '../../h2client.js';
import { closeServers, start } from '../../helpers.js';

afterEach(closeServers);

/** Streams its head, then ends with the trailer field the request's path names. */
const app: App = (events) =>
  events.pipe(
    filter((event) => event.type === 'request'),
    mergeMap((event): OutboundEvent[] => [
      {
        type: 'response',
        stream: event.stream,
        status: 200,
        headers: ['content-type', 'text/plain'],
        body: 'body',
        end: false,
      },
      {
        type: 'trailers',
        stream: event.stream,
        headers: [decodeURIComponent(event.path.slice(1)), 'trailers'],
      },
    ]),
  );

describe('HTTP/2 trailers the wire refuses', () => {
  // node:http2 checks trailer names only in 'wantTrailers', after the body: its throw there was
  // an uncaught exception that ended the process, every client with it. Now the names are
  // checked when the app sends them, as node:http does: the stream is reset (its head is out).
  it.each([':bad', 'bad name', 'http2-settings'])('%s resets the stream alone', async (name) => {
    const server = await start(app);
    const client = await session(server.url);
    const refused = client.request({ ':path': `/${encodeURIComponent(name)}`, te: 'trailers' });
    refused.on('error', () => {});
    refused.resume();
    const code = await new Promise((resolve) =>
      refused.on('close', () => resolve(refused.rstCode)),
    );
    expect(code).toBe(constants.NGHTTP2_INTERNAL_ERROR);
    // The same connection serves on, and a valid name goes out as a trailer.
    const answer = await exchange(client, { ':path': '/x-checksum', te: 'trailers' });
    expect([answer.status, answer.body.toString(), answer.trailers?.['x-checksum']]).toEqual([
      200,
      'body',
      'trailers',
    ]);
    client.close();
  });
});
