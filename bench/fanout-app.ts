/**
 * The rxgi app of the fan-out benchmark (bench/fanout.mjs), served by
 * `rxgi serve bench/fanout-app.ts --workers 2 [--bus URL]`.
 *
 * A WebSocket at `/fan` first says `pid <process id>` (so the load generator can tell how the
 * connections were split across the workers), then joins the group `fan`: what the group says is
 * sent to the client as it is, and what the client sends is published to the group. The payload
 * is the publisher's string (`<phase> <seq> <send time>`), carried untouched.
 *
 * The group's messages reach the client as a broadcast does in Socket.IO: the server sends them
 * itself (`join` with `forward`, spec/actors.md §4). At `/fan?via=inbox` each message takes the
 * trip through the app instead (`req.inbox`, mapped to the client's message): what that costs
 * per member is the `cluster-inbox` system of the benchmark.
 */
import { handle, status, upgrade } from 'rxgi';
import { ignoreElements, map, merge, of, tap } from 'rxjs';

const GROUP = 'fan';
const HELLO = `pid ${process.pid}`;

export default handle((req) => {
  if (req.path !== '/fan') return status(404);
  const viaInbox = req.searchParams.get('via') === 'inbox';
  return upgrade((messages) => {
    req.join(GROUP, undefined, { forward: !viaInbox });
    const published = messages.pipe(
      tap((said) => req.publish(GROUP, typeof said === 'string' ? said : '')),
      ignoreElements(),
    );
    if (!viaInbox) return merge(of(HELLO), published);
    return merge(
      of(HELLO),
      req.inbox.pipe(map((mail) => (mail.type === 'message' ? String(mail.data) : 'undelivered'))),
      published,
    );
  });
});
