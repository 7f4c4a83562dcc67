import type { App, Middleware, OutboundEvent } from 'rxgi';
import { compose, ERR, handle, html, json, RxgiError, redirect, status, text, upgrade } from 'rxgi';
import { connect, ev, expectMarbles, inject, memoryConnection } from 'rxgi/testing';
import { filter, map, mergeMap, Observable, of, take } from 'rxjs';
import { describe, expect, it } from 'vitest';

describe('handle: answers', () => {
  it('turns reply helpers into responses', async () => {
    const app = handle((req) => {
      switch (req.path) {
        case '/text':
          return text('plain', 201);
        case '/json':
          return json({ ok: true });
        case '/html':
          return html('<p>hi</p>');
        case '/go':
          return redirect('/there', 301);
        case '/string':
          return 'just a string';
        default:
          return status(404);
      }
    });
    const connection = memoryConnection(app);
    const [plain, data, page, moved, string, missing] = await Promise.all(
      ['/text', '/json', '/html', '/go', '/string', '/nope'].map((target) =>
        connection.request({ target }),
      ),
    );
    connection.close();
    expect([plain.status, plain.text, plain.headers]).toEqual([
      201,
      'plain',
      ['content-type', 'text/plain; charset=utf-8'],
    ]);
    expect([data.text, data.headers[1]]).toEqual(['{"ok":true}', 'application/json']);
    expect(page.headers[1]).toBe('text/html; charset=utf-8');
    expect([moved.status, moved.headers]).toEqual([301, ['location', '/there']]);
    expect([string.text, string.headers[1]]).toEqual([
      'just a string',
      'text/plain; charset=utf-8',
    ]);
    expect([missing.status, missing.text]).toEqual([404, 'Not Found\n']);
  });

  it('accepts promises, Observables and record headers', async () => {
    const later = handle(async () => ({
      status: 202,
      headers: { 'X-Thing': ['a', 'b'] },
      body: 'later',
    }));
    expect(await inject(later)).toMatchObject({
      status: 202,
      text: 'later',
      headers: ['x-thing', 'a', 'x-thing', 'b'],
    });
    const observed = handle(() => of(text('observed')));
    expect((await inject(observed)).text).toBe('observed');
  });

  it('answers an RxgiError with its status and anything else with 500', async () => {
    const app = handle((req) => {
      if (req.path === '/big') throw new RxgiError(ERR.BODY_TOO_LARGE, 'too big', 413);
      return Promise.reject(new Error('hidden'));
    });
    expect((await inject(app, { target: '/big' })).status).toBe(413);
    const failed = await inject(app, { target: '/other' });
    expect([failed.status, failed.text]).toEqual([500, 'Internal Server Error\n']);
  });

  it('streams an async-iterable body larger than the window, honouring window grants', async () => {
    const chunk = new Uint8Array(50_000).fill(7);
    const app = handle(() => ({
      body: (async function* () {
        for (let i = 0; i < 10; i++) yield chunk;
      })(),
    }));
    const response = await inject(app);
    expect(response.body.byteLength).toBe(500_000);
  });

  it('streams an Observable body and sends trailers after it', async () => {
    const app = handle(() => ({
      body: of('a', 'b', 'c'),
      trailers: async () => ['x-count', '3'],
    }));
    const response = await inject(app);
    expect(response.text).toBe('abc');
    expect(response.trailers).toEqual(['x-count', '3']);
  });

  it('sends early hints, and a push degrades to a hint plus a Link header', async () => {
    const app = handle((req) => {
      req.earlyHints(['link', '</a.css>; rel=preload']);
      req.push('/b.js');
      return text('page');
    });
    const response = await inject(app);
    expect(response.hints).toEqual([
      ['link', '</a.css>; rel=preload'],
      ['link', '</b.js>; rel=preload'],
    ]);
    expect(response.headers).toEqual([
      'content-type',
      'text/plain; charset=utf-8',
      'link',
      '</b.js>; rel=preload',
    ]);
  });
});

describe('handle: request bodies', () => {
  const echoText = handle(async (req) => text(await req.text()));

  it('reads a body as text, JSON and bytes', async () => {
    expect((await inject(echoText, { method: 'POST', body: 'héllo' })).text).toBe('héllo');
    const parse = handle(async (req) => json(await req.json<{ n: number }>()));
    expect((await inject(parse, { method: 'POST', body: '{"n":1}' })).text).toBe('{"n":1}');
    const size = handle(async (req) => text(String((await req.bytes()).byteLength)));
    expect((await inject(size, { method: 'POST', body: new Uint8Array(300_000) })).text).toBe(
      '300000',
    );
  });

  it('fails with 413 past the limit, 400 on bad JSON', async () => {
    const small = handle(async (req) => text(await req.text(4)));
    expect((await inject(small, { method: 'POST', body: '12345' })).status).toBe(413);
    const declared = await inject(small, {
      method: 'POST',
      headers: { 'content-length': '5' },
      body: '12345',
    });
    expect(declared.status).toBe(413);
    const parse = handle(async (req) => json(await req.json()));
    expect((await inject(parse, { method: 'POST', body: '{' })).status).toBe(400);
  });

  it('streams a request body straight into the response', async () => {
    const echo = handle((req) => ({ body: req.body }));
    const body = new Uint8Array(1_000_000).map((_, i) => i % 251);
    const response = await inject(echo, { method: 'POST', body });
    // Buffer equality: a deep toEqual over a million elements took seconds.
    expect(Buffer.from(response.body).equals(Buffer.from(body))).toBe(true);
  });

  it('refuses to read a body twice with RXGI_ERR_BODY_CONSUMED', async () => {
    const twice = handle(async (req) => {
      await req.text();
      try {
        await req.text();
        return text('read twice');
      } catch (error) {
        return text((error as RxgiError).code);
      }
    });
    expect((await inject(twice, { method: 'POST', body: 'x' })).text).toBe(
      'RXGI_ERR_BODY_CONSUMED',
    );
  });

  it('aborts the request signal when the stream closes', async () => {
    let aborted: unknown = null;
    const app = handle(
      (req) =>
        new Promise<never>(() => {
          req.signal.addEventListener('abort', () => {
            aborted = req.signal.reason;
          });
        }),
    );
    const connection = memoryConnection(app);
    void connection.request({}).catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 5));
    connection.close();
    expect((aborted as RxgiError).code).toBe('RXGI_ERR_STREAM_CLOSED');
  });
});

describe('handle: WebSockets on the memory driver', () => {
  it('runs a session: messages in, messages out, and close codes', async () => {
    const app = handle((req) =>
      req.websocket
        ? upgrade(
            (messages) => messages.pipe(map((m) => (typeof m === 'string' ? m.toUpperCase() : m))),
            {
              subprotocol: req.subprotocols[0] ?? null,
            },
          )
        : status(404),
    );
    // A scripted connection (rxgi/testing) on the memory driver.
    const conn = await connect(app);
    const ws = await conn.websocket('/chat', ['v1']);
    expect(ws.subprotocol).toBe('v1');
    await ws.send('hi');
    expect(await ws.next()).toBe('HI');
    await ws.send(new Uint8Array([1]));
    expect(await ws.next()).toEqual(new Uint8Array([1]));
    await ws.close(1000, 'done');
    expect(await ws.closed).toEqual({ code: 1000, reason: 'done' });
    await conn.close();
  });

  it('keeps messages queued while the app grants no window, then delivers them', async () => {
    const received: string[] = [];
    let grant: (() => void) | null = null;
    const app: App = (events) =>
      new Observable<OutboundEvent>((out) =>
        events.subscribe((event) => {
          if (event.type === 'request') {
            out.next({ type: 'ws-accept', stream: event.stream, subprotocol: null, headers: [] });
            out.next({ type: 'window', stream: event.stream, bytes: 1 });
            grant = () => out.next({ type: 'window', stream: event.stream, bytes: 100 });
          }
          if (event.type === 'ws-message') received.push(event.data as string);
        }),
      );
    const connection = memoryConnection(app);
    const ws = await connection.websocket();
    ws.send('one');
    ws.send('two');
    ws.send('three');
    expect(received).toEqual(['one']);
    grant!();
    expect(received).toEqual(['one', 'two', 'three']);
    connection.close();
  });

  it('reaches a request that first keeps state after the handshake: its signal and inbox', async () => {
    let aborted: unknown = null;
    const app = handle((req) =>
      upgrade((messages) =>
        messages.pipe(
          mergeMap((message) => {
            if (message === 'watch') {
              req.signal.addEventListener('abort', () => {
                aborted = req.signal.reason;
              });
              return of('watching');
            }
            // The inbox is made now, long after the session started; a message to the session's
            // own address must still reach it.
            return new Observable<string>((out) => {
              const mail = req.inbox
                .pipe(
                  take(1),
                  map((m) => (m.type === 'message' ? `mail ${String(m.data)}` : m.type)),
                )
                .subscribe(out);
              req.send(req.address, 'to myself');
              return mail;
            });
          }),
        ),
      ),
    );
    const conn = await connect(app);
    const ws = await conn.websocket('/');
    await ws.send('watch');
    expect(await ws.next()).toBe('watching');
    await ws.send('mail');
    expect(await ws.next()).toBe('mail to myself');
    expect(aborted).toBeNull();
    await ws.close(1000, 'bye');
    await ws.closed;
    expect((aborted as RxgiError).code).toBe('RXGI_ERR_STREAM_CLOSED');
    await conn.close();
  });

  it("keeps a Subscriber's rules on the session's output: complete, error, teardown, late values", async () => {
    const torn: string[] = [];
    let late: ((value: string) => void) | null = null;
    const app = handle((req) =>
      upgrade((messages) => {
        switch (req.path) {
          // Completes after two messages: closed with 1000, and the inner teardown runs.
          case '/two':
            return messages.pipe(
              take(2),
              map((m) => `got ${String(m)}`),
            );
          // Fails at the first message: closed with 1011.
          case '/fail':
            return messages.pipe(
              map(() => {
                throw new Error('boom');
              }),
            );
          // Throws as it is subscribed: closed with 1011 too.
          case '/throws':
            return new Observable<string>(() => {
              throw new Error('at subscribe');
            });
          // A producer that keeps its subscriber: what it sends after complete is dropped.
          default:
            return new Observable<string>((out) => {
              late = (value) => out.next(value);
              out.next('hello');
              const inner = messages.subscribe(() => out.complete());
              return () => {
                torn.push('producer');
                inner.unsubscribe();
              };
            });
        }
      }),
    );
    const conn = await connect(app);

    const two = await conn.websocket('/two');
    await two.send('a');
    expect(await two.next()).toBe('got a');
    await two.send('b');
    expect(await two.next()).toBe('got b');
    expect(await two.closed).toEqual({ code: 1000, reason: '' });

    const fail = await conn.websocket('/fail');
    await fail.send('x');
    expect((await fail.closed).code).toBe(1011);

    const throws = await conn.websocket('/throws');
    expect((await throws.closed).code).toBe(1011);

    const kept = await conn.websocket('/kept');
    expect(await kept.next()).toBe('hello');
    await kept.send('done');
    expect(await kept.closed).toEqual({ code: 1000, reason: '' });
    expect(torn).toEqual(['producer']);
    late!('too late');

    // The client leaving tears the producer down as well.
    const leaving = await conn.websocket('/leaving');
    expect(await leaving.next()).toBe('hello');
    await leaving.close(1000, 'bye');
    await leaving.closed;
    expect(torn).toEqual(['producer', 'producer']);
    await conn.close();
  });

  it('denies a handshake with the response the handler gives', async () => {
    const app = handle(() => status(403));
    const connection = memoryConnection(app);
    await expect(connection.websocket()).rejects.toMatchObject({ status: 403 });
    connection.close();
  });
});

describe('connection rules for raw apps', () => {
  function rawApp(answer: (stream: number) => OutboundEvent[]): App {
    return (events) =>
      events.pipe(
        filter((event) => event.type === 'request'),
        mergeMap((event) => answer(event.stream)),
      );
  }

  it('answers 500 to data sent before a response head', async () => {
    const app = rawApp((stream) => [{ type: 'data', stream, chunk: 'x', end: true }]);
    expect((await inject(app)).status).toBe(500);
  });

  it('answers 500 to an unknown event type and ignores x- extension events', async () => {
    const unknown = rawApp((stream) => [{ type: 'teapot', stream } as never]);
    expect((await inject(unknown)).status).toBe(500);
    const extended = rawApp((stream) => [
      { type: 'x-metrics', stream } as never,
      { type: 'response', stream, status: 200, headers: [], body: 'fine', end: true },
    ]);
    expect((await inject(extended)).text).toBe('fine');
  });

  it('drops events for a stream that has ended', async () => {
    const app = rawApp((stream) => [
      { type: 'response', stream, status: 200, headers: [], body: 'first', end: true },
      { type: 'data', stream, chunk: 'late', end: true },
    ]);
    expect((await inject(app)).text).toBe('first');
  });
});

describe('middleware', () => {
  it('composes as plain functions, outermost first', () => {
    const tag =
      (name: string): Middleware =>
      (app) =>
      (events, info) =>
        app(events, info).pipe(
          map((event) =>
            event.type === 'response'
              ? { ...event, headers: [...event.headers, 'x-via', name] }
              : event,
          ),
        );
    const app = compose(tag('outer'), tag('inner'))(handle(() => text('x')));
    // A marble test (rxgi/testing): the whole response event, on virtual time.
    expectMarbles(app, {
      inbound: 'r',
      outbound: 'a',
      values: {
        r: ev.get(1),
        a: ev.response(
          1,
          200,
          ['content-type', 'text/plain; charset=utf-8', 'x-via', 'inner', 'x-via', 'outer'],
          'x',
        ),
      },
    });
  });
});

describe('handle: run with and without an Observable in between', () => {
  // A connection runs a `handle` app's session directly; wrapped in middleware, the same app
  // runs through its Observable. Both must behave the same.
  const through: Middleware = (app) => (events, info) => app(events, info);

  for (const [name, wrap] of [
    ['directly', (app: App) => app],
    ['through an Observable', through],
  ] as const) {
    it(`answers, reads bodies, fails and tears down alike (${name})`, async () => {
      const aborted: string[] = [];
      const app = wrap(
        handle(async (req) => {
          if (req.path === '/echo') return text(await req.text());
          if (req.path === '/fail') throw new Error('boom');
          if (req.path === '/hang') {
            req.signal.addEventListener('abort', () => aborted.push(req.path));
            return new Promise<never>(() => {});
          }
          return text(`hi ${req.path}`);
        }),
      );
      const connection = memoryConnection(app);
      const hanging = connection.request({ target: '/hang' }).catch((error: Error) => error);
      const [hi, echo, fail] = await Promise.all([
        connection.request({ target: '/a' }),
        connection.request({ method: 'POST', target: '/echo', body: 'posted' }),
        connection.request({ target: '/fail' }),
      ]);
      expect([hi.status, hi.text]).toEqual([200, 'hi /a']);
      expect([echo.status, echo.text]).toEqual([200, 'posted']);
      expect(fail.status).toBe(500);
      connection.close();
      expect(await hanging).toBeInstanceOf(Error);
      expect(aborted).toEqual(['/hang']);
    });
  }
});

describe('handle: shutdown', () => {
  it('aborts req.shutdown when the connection receives the shutdown event', async () => {
    const { Subject } = await import('rxjs');
    const events = new Subject<import('rxgi').InboundEvent>();
    const signals: AbortSignal[] = [];
    const app = handle((req) => {
      signals.push(req.shutdown);
      return new Promise<never>(() => {});
    });
    const output = app(events, {
      id: 't',
      protocol: 'memory',
      address: '',
      secure: false,
      client: null,
      server: null,
    });
    const subscription = output.subscribe();
    const request = {
      type: 'request' as const,
      stream: 1,
      method: 'GET',
      target: '/',
      path: '/',
      query: '',
      headers: [],
      http: '1.1' as const,
      scheme: 'http' as const,
      authority: '',
      client: null,
      server: null,
      caps: { push: false, trailers: false, earlyHints: false, websocket: false },
      websocket: false,
      subprotocols: [],
      end: true,
    };
    events.next(request);
    expect(signals[0].aborted).toBe(false);
    events.next({ type: 'shutdown', stream: 0, deadline: 1000 });
    expect(signals[0].aborted).toBe(true);
    events.next({ ...request, stream: 2 });
    expect(signals[1].aborted).toBe(true);
    subscription.unsubscribe();
  });
});
