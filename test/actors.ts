/** A raw app for actor tests: it records what arrives and sends what the test pushes. */
import type { App, ConnectionInfo, InboundEvent, OutboundEvent, Value } from 'rxgi';
import type { Hub } from 'rxgi/bus';
import { memoryConnection } from 'rxgi/testing';
import { ignoreElements, merge, Subject, tap } from 'rxjs';

export interface Probe {
  app: App;
  /** Every inbound event, in order. */
  received: InboundEvent[];
  /** Push outbound events here. */
  out: Subject<OutboundEvent>;
  messages(): Extract<InboundEvent, { type: 'message' }>[];
  /** The data of every message, in order. */
  data(): Value[];
  /** Stream 0's address, once the app runs. */
  readonly address: string;
}

export function probe(): Probe {
  const received: InboundEvent[] = [];
  const out = new Subject<OutboundEvent>();
  let info: ConnectionInfo | null = null;
  const app: App = (events, connection) => {
    info = connection;
    return merge(
      events.pipe(
        tap((event) => received.push(event)),
        ignoreElements(),
      ),
      out,
    );
  };
  const messages = () =>
    received.filter(
      (event): event is Extract<InboundEvent, { type: 'message' }> => event.type === 'message',
    );
  return {
    app,
    received,
    out,
    messages,
    data: () => messages().map((event) => event.data),
    get address() {
      return `${info?.address}/0`;
    },
  };
}

/** A probe on a memory connection of `hub`, for each hub given: `on(hub)`, `on(east, west)`. */
export function on(...hubs: Hub[]): Probe[] {
  return hubs.map((hub) => {
    const made = probe();
    memoryConnection(made.app, {}, hub);
    return made;
  });
}
