/**
 * Rule ids of the specification that no host-agnostic check exercises, each with why. The suite
 * reaches a host as a client of its port (checks.ts), through the start and stop its author
 * hands it (host-lifecycle.ts), and an app, middleware or lifespan handler in process
 * (middleware.ts, lifespan.ts); what passes between a host's own processes is out of reach. A test keeps this list and the checks apart: an id is checked or listed here,
 * never both.
 */
export const UNTESTABLE: Readonly<Record<string, string>> = {
  'actor-membership':
    "needs actor routes in the fixture app and two connections to one host's hub; the wire suite has neither yet, and a host need not offer actors",
  'actor-at-most-once':
    'a duplicate could only come from a bus delivering twice, which no client can provoke; a loss is allowed',
  'actor-order':
    "order holds per sending process on the host's bus; a check would need actor routes in the fixture (none yet) and could not see the bus",
  'actor-inbox':
    'needs actor routes in the fixture app that send to a stream holding back credit; the wire suite has none yet',
  'actor-undelivered':
    'needs actor routes in the fixture app (a send to a closed address, a full inbox); the wire suite has none yet',
  'actor-forward':
    'needs actor routes in the fixture app (a WebSocket joined with forward) and a way to publish to its group; the wire suite has none yet',
  'bus-envelope':
    "travels on the host's bus between its own processes: a client of the host's port never sees it",
  'remote-frame':
    "travels on the host's bus between the server and its workers: a client of the host's port never sees it",
};
