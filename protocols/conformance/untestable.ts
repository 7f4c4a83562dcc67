/**
 * Rule ids of the specification that no host-agnostic check exercises, each with why. The suite
 * reaches a host as a client of its port (checks.ts) and an app or middleware in process
 * (middleware.ts, lifespan.ts); what happens inside a host, or between its processes, is out of
 * reach of both. A test keeps this list and the checks apart: an id is checked or listed here,
 * never both.
 */
export const UNTESTABLE: Readonly<Record<string, string>> = {
  'lifespan-startup':
    'happens before the host listens: a client connects only afterwards, and a host runs its lifespan handler inside itself with no interface a check could drive',
  'lifespan-shutdown':
    'happens when the host shuts down, which its operator starts (a signal, a call inside the host); a client cannot',
  'lifespan-reply':
    "concerns the host's own lifespan runner, which it exposes to no check; the app side is checked by checkLifespan",
  'shutdown-event':
    'a client cannot make a host shut down: its operator does (a signal, a call inside the host)',
  'shutdown-deadline': 'likewise: only a shutdown the host was told to do reaches its deadline',
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
  'bus-envelope':
    "travels on the host's bus between its own processes: a client of the host's port never sees it",
  'remote-frame':
    "travels on the host's bus between the server and its workers: a client of the host's port never sees it",
};
