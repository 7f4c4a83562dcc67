// rxgi: the app of the soak run (bench/soak.mjs), from the built package (dist/). One port serves
// HTTP/1.1, h2c and WebSocket: `GET /hello` answers text, `POST /echo` echoes its body, and a
// WebSocket joins the group `soak`, echoes each message to its sender and publishes every tenth
// to the group, so connections, streams, sessions, group memberships and inboxes all churn.
import { handle, serve, text, upgrade } from 'rxgi';
import { map, merge, tap } from 'rxjs';
import { HOST, PORT, ready } from './common.mjs';

const app = handle(async (req) => {
  if (req.websocket) {
    return upgrade((messages) => {
      let count = 0;
      req.join('soak');
      const echoed = messages.pipe(
        tap(() => {
          if (++count % 10 === 0) req.publish('soak', { from: req.address, count });
        }),
      );
      const room = req.inbox.pipe(map((mail) => `room ${JSON.stringify(mail)}`));
      return merge(echoed, room);
    });
  }
  if (req.method === 'POST') return text(await req.text());
  return text('Hello, soak!\n');
});

const server = await serve(app, { host: HOST, port: PORT });
ready(server.port);

// `sample` on stdin: a full GC (node --expose-gc), then one line `SAMPLE <rss> <heapUsed>` in
// bytes, so the runner reads memory that is live rather than garbage not yet collected.
let input = '';
process.stdin.on('data', (chunk) => {
  input += chunk;
  for (let at = input.indexOf('\n'); at >= 0; at = input.indexOf('\n')) {
    const line = input.slice(0, at);
    input = input.slice(at + 1);
    if (line !== 'sample') continue;
    globalThis.gc?.();
    const { rss, heapUsed } = process.memoryUsage();
    process.stdout.write(`SAMPLE ${rss} ${heapUsed}\n`);
  }
});
