/**
 * The rxgi app of the fan-out benchmark (bench/fanout.mjs), served by
 * `rxgi serve bench/fanout-app.ts --workers 2 [--bus URL]`.
 *
 * A WebSocket at `/fan` first says `pid <process id>` (so the load generator can tell how the
 * connections were split across the workers), then joins the group `fan`: what the group says is
 * sent to the client as it is, and what the client sends is published to the group. The payload
 * is the publisher's string (`<phase> <seq> <send time>`), carried untouched.
 */
import { handle, status, upgrade } from 'rxgi';
import { ignoreElements, map, merge, of, tap } from 'rxjs';

const GROUP = 'fan';
const HELLO = `pid ${process.pid}`;

export default handle((req) => {
  if (req.path !== '/fan') return status(404);
  return upgrade((messages) => {
    req.join(GROUP);
    return merge(
      of(HELLO),
      req.inbox.pipe(map((mail) => (mail.type === 'message' ? String(mail.data) : 'undelivered'))),
      messages.pipe(
        tap((said) => req.publish(GROUP, typeof said === 'string' ? said : '')),
        ignoreElements(),
      ),
    );
  });
});
