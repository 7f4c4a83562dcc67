import { checkHostLifecycle, formatReport, type HostStarter } from 'rxgi/conformance';
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { LifespanEvent, LifespanReply } from '../../../core/lifespan.js';
import { serve } from '../../../protocols/server/serve.js';

/** rxgi's own serve, as a host author would hand it to the check. */
const rxgi: HostStarter = async (app, lifespan, shutdownTimeout) => {
  const server = await serve(app, { port: 0, lifespan, shutdownTimeout });
  return { url: server.url, stop: () => server.close() };
};

function failed(report: Awaited<ReturnType<typeof checkHostLifecycle>>): string[] {
  return report.results.filter((r) => r.outcome === 'fail').map((r) => r.id);
}

describe('checkHostLifecycle', () => {
  it('passes serve: lifespan and shutdown in their order, each rule by id', async () => {
    const report = await checkHostLifecycle(rxgi);
    expect(report.ok, formatReport(report)).toBe(true);
    expect(report.results.map((r) => [r.id, r.outcome])).toEqual([
      ['lifespan-startup', 'pass'],
      ['lifespan-reply', 'pass'],
      ['shutdown-event', 'pass'],
      ['shutdown-deadline', 'pass'],
      ['lifespan-shutdown', 'pass'],
    ]);
  });

  it('fails a host that never runs the lifespan it is given', async () => {
    const report = await checkHostLifecycle(async (app, _lifespan, shutdownTimeout) => {
      const server = await serve(app, { port: 0, shutdownTimeout });
      return { url: server.url, stop: () => server.close() };
    });
    expect(failed(report)).toEqual(['lifespan-startup', 'lifespan-shutdown']);
    expect(formatReport(report)).toMatch(/started although its lifespan answered startup-failed/);
  });

  it('fails a host that ignores its shutdown timeout and returns before the lifespan answered', async () => {
    const report = await checkHostLifecycle(async (app, lifespan) => {
      const server = await serve(app, { port: 0, lifespan, shutdownTimeout: 100 });
      return {
        url: server.url,
        stop: async () => {
          void server.close();
        },
      };
    });
    expect(failed(report)).toEqual(['shutdown-event', 'shutdown-deadline', 'lifespan-shutdown']);
    expect(formatReport(report)).toMatch(/deadline was 100, the shutdown timeout 800/);
  });

  it('fails a host that keeps a spare startup-complete and takes it for the shutdown answer', async () => {
    // The runner rxgi had (issue 13, a): replies queue up, and each event takes the next one.
    const report = await checkHostLifecycle(async (app, lifespan, shutdownTimeout) => {
      const events = new Subject<LifespanEvent>();
      const queue: LifespanReply[] = [];
      const waiting: ((reply: LifespanReply) => void)[] = [];
      lifespan(events).subscribe((reply) => {
        const next = waiting.shift();
        if (next) next(reply);
        else queue.push(reply);
      });
      const answer = () =>
        new Promise<LifespanReply>((resolve) => {
          const ready = queue.shift();
          if (ready) resolve(ready);
          else waiting.push(resolve);
        });
      events.next({ type: 'startup' });
      const started = await answer();
      if (started.type === 'startup-failed') throw new Error(started.message);
      const server = await serve(app, { port: 0, shutdownTimeout });
      return {
        url: server.url,
        stop: async () => {
          await server.close();
          events.next({ type: 'shutdown' });
          await answer();
        },
      };
    });
    expect(failed(report)).toEqual(['lifespan-reply']);
  });
});
