import type { App, InboundEvent, Middleware } from 'rxgi';
import { memoryConnection } from 'rxgi/testing';
import { describe, expect, it } from 'vitest';
import { sessionApp } from '../../core/app.js';

// A connection runs a `sessionApp` app's session directly (SessionRun); wrapped in middleware,
// the same app runs through its Observable. The rules must be the same both ways.
const through: Middleware = (app) => (events, info) => app(events, info);

/** A session that ends its output on `/error` or `/complete`, answers `/` and holds `/hold`. */
function ending(log: string[]): App {
  return sessionApp((out) => ({
    receive(event: InboundEvent) {
      // Window grants come and go with the memory driver's flushing: not part of these rules.
      if (event.type !== 'window') {
        log.push(event.type === 'request' ? `request ${event.target}` : event.type);
      }
      if (event.type !== 'request') return;
      if (event.target === '/error') out.error(new Error('the session failed'));
      else if (event.target === '/complete') out.complete();
      else if (event.target === '/') {
        out.next({
          type: 'response',
          stream: event.stream,
          status: 200,
          headers: [],
          body: 'ok',
          end: true,
        });
      }
    },
    teardown() {
      log.push('teardown');
    },
  }));
}

describe('sessionApp: run directly and through an Observable alike', () => {
  for (const [name, wrap] of [
    ['directly', (app: App) => app],
    ['through an Observable', through],
  ] as const) {
    it(`ends on the output's error: open streams fail, the session is torn down (${name})`, async () => {
      const log: string[] = [];
      const connection = memoryConnection(wrap(ending(log)));
      expect((await connection.request({ target: '/' })).status).toBe(200);
      const held = connection.request({ target: '/hold' });
      const failed = connection.request({ target: '/error' });
      expect((await held).status).toBe(500);
      expect((await failed).status).toBe(500);
      // The close events of the failing streams still reach the session, then it is torn down
      // and hears nothing more.
      expect(log.slice(0, 5)).toEqual([
        'request /',
        'request /hold',
        'request /error',
        'close',
        'close',
      ]);
      expect(log.slice(5).every((entry) => entry === 'teardown')).toBe(true);
      expect(log.length).toBeGreaterThan(5);
    });

    it(`ends on the output's complete: waiting streams get 500, later ones too (${name})`, async () => {
      const log: string[] = [];
      const connection = memoryConnection(wrap(ending(log)));
      const held = connection.request({ target: '/hold' });
      const completing = connection.request({ target: '/complete' });
      expect((await held).status).toBe(500);
      expect((await completing).status).toBe(500);
      expect(log.filter((entry) => entry.startsWith('request'))).toEqual([
        'request /hold',
        'request /complete',
      ]);
      expect(log).toContain('teardown');
      const late = await connection.request({ target: '/' }).catch((error: Error) => error);
      expect(late instanceof Error || late.status === 500).toBe(true);
      expect(log.filter((entry) => entry.startsWith('request'))).toHaveLength(2);
    });

    it(`tears the session down when the connection closes (${name})`, async () => {
      const log: string[] = [];
      const connection = memoryConnection(wrap(ending(log)));
      const held = connection.request({ target: '/hold' }).catch((error: Error) => error);
      connection.close();
      expect(await held).toBeInstanceOf(Error);
      expect(log[0]).toBe('request /hold');
      expect(log[1]).toBe('close');
      expect(log.slice(2).every((entry) => entry === 'teardown')).toBe(true);
      expect(log.length).toBeGreaterThan(2);
    });
  }
});
