/**
 * Sends to an address that is gone are reported to the sender (spec/actors.md §4, issue 16 item
 * 10): a closed connection's address in this process or another, and an address whose process
 * (hub) has vanished from the bus.
 */
import { Hub, MemoryBus } from 'rxgi/bus';
import { memoryConnection } from 'rxgi/testing';
import { describe, expect, it } from 'vitest';
import { on, probe } from '../actors.js';
import { until } from '../helpers.js';

const undelivered = (events: { type: string }[]) => events.filter((e) => e.type === 'undelivered');

describe('sends to an address that is gone', () => {
  it('are reported `gone` when the connection closed, in this process', async () => {
    const hub = new Hub();
    const [sender] = on(hub);
    const gone = probe();
    memoryConnection(gone.app, {}, hub).close();
    await until(() => hub.connections === 1);
    sender.out.next({ type: 'send', stream: 0, to: gone.address, data: 'hello?' });
    await until(() => undelivered(sender.received).length === 1);
    expect(sender.received).toEqual([
      { type: 'undelivered', stream: 0, to: gone.address, reason: 'gone' },
    ]);
    expect(hub.stats.dropped.gone).toBe(1);
  });

  it('are reported `gone` when the connection closed in another process (a NACK)', async () => {
    const bus = new MemoryBus();
    const east = new Hub({ bus });
    const west = new Hub({ bus });
    const [sender] = on(east);
    const gone = probe();
    memoryConnection(gone.app, {}, west).close();
    await until(() => west.connections === 0);
    sender.out.next({ type: 'send', stream: 0, to: gone.address, data: 'hello?' });
    await until(() => undelivered(sender.received).length === 1);
    expect(sender.received[0]).toEqual({
      type: 'undelivered',
      stream: 0,
      to: gone.address,
      reason: 'gone',
    });
  });

  it('are reported `gone` when the process vanished from the bus', async () => {
    const bus = new MemoryBus();
    const east = new Hub({ bus });
    const west = new Hub({ bus });
    const [sender, far] = on(east, west);
    await until(() => west.connections === 1);
    const address = far.address;
    west.close(); // the process is gone: nobody answers for its addresses
    sender.out.next({ type: 'send', stream: 0, to: address, data: 'hello?' });
    // A group nobody is in is not an error: no report.
    sender.out.next({ type: 'group-send', stream: 0, group: 'empty', data: 1 });
    await until(() => undelivered(sender.received).length === 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(undelivered(sender.received)).toEqual([
      { type: 'undelivered', stream: 0, to: address, reason: 'gone' },
    ]);
    expect(east.stats.bounced).toEqual({ full: 0, gone: 1 });
  });
});
