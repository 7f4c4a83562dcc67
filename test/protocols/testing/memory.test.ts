import type { App, InboundEvent, OutboundEvent } from 'rxgi';
import { inject, memoryConnection } from 'rxgi/testing';
import { filter, mergeMap, tap } from 'rxjs';
import { describe, expect, it } from 'vitest';

describe('the memory driver', () => {
  it('sends nothing for a stream after its close: a body the app did not wait for is dropped', async () => {
    const seen: InboundEvent[] = [];
    // Answers at once, grants credit for the body, and never reads it.
    const app: App = (events) =>
      events.pipe(
        tap((event) => seen.push(event)),
        filter((event) => event.type === 'request'),
        mergeMap((request): OutboundEvent[] => [
          { type: 'window', stream: request.stream, bytes: 65_536 },
          {
            type: 'response',
            stream: request.stream,
            status: 200,
            headers: [],
            body: 'early',
            end: true,
          },
        ]),
      );
    async function* body() {
      for (let i = 0; i < 3; i++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        yield new Uint8Array(100);
      }
    }
    const connection = memoryConnection(app);
    const response = await connection.request({ method: 'POST', body: body() });
    expect(response.text).toBe('early');
    await new Promise((resolve) => setTimeout(resolve, 50));
    connection.close();
    const types = seen.map((event) => event.type);
    expect(types).toContain('close');
    expect(types.slice(types.indexOf('close') + 1)).not.toContain('data');
  });
});

describe('the memory driver delivers requests as the wire drivers do (SPEC.md §3.1)', () => {
  it('lower-cases header names given as a list or a record', async () => {
    const seen: string[][] = [];
    const app: App = (events) =>
      events.pipe(
        filter((event) => event.type === 'request'),
        tap((request) => seen.push(request.headers)),
        mergeMap((request): OutboundEvent[] => [
          { type: 'response', stream: request.stream, status: 204, headers: [], end: true },
        ]),
      );
    await inject(app, { headers: ['X-Mixed', 'A', 'Content-Type', 'text/plain'] });
    await inject(app, { headers: { 'X-Record': 'B' } });
    expect(seen).toEqual([
      ['x-mixed', 'A', 'content-type', 'text/plain'],
      ['x-record', 'B'],
    ]);
  });
});
