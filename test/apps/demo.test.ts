import { type RxgiServer, serve } from 'rxgi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import app from '../../apps/demo.js';
import { type Broker, startNats, startRedis } from '../brokers.js';
import { cli } from '../helpers.js';

let server: RxgiServer;

beforeAll(async () => {
  server = await serve(app, { port: 0 });
});

afterAll(async () => {
  await server?.close();
});

/** Resolves when `check` holds, polling; fails after `ms`. */
async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

type Received = { name?: string; text?: string; at?: string; system?: string };

/** A `ws` client that records every JSON message it receives. */
class ChatClient {
  readonly socket: WebSocket;
  readonly received: Received[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<void>;

  constructor(url: string) {
    this.socket = new WebSocket(url);
    this.socket.on('message', (data) => this.received.push(JSON.parse(String(data))));
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve());
      this.socket.once('error', reject);
    });
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  send(value: unknown): void {
    this.socket.send(typeof value === 'string' ? value : JSON.stringify(value));
  }

  chat(): Received[] {
    return this.received.filter((message) => message.system === undefined);
  }

  system(): string[] {
    return this.received.flatMap((message) => (message.system ? [message.system] : []));
  }

  /** Waits for a chat message with `text`. */
  async said(text: string): Promise<Received> {
    await until(() => this.chat().some((message) => message.text === text));
    return this.chat().find((message) => message.text === text)!;
  }

  async close(): Promise<void> {
    this.socket.close();
    await this.closed;
  }
}

function wsUrl(path: string): string {
  return `${server.url.replace('http', 'ws')}${path}`;
}

describe('demo app over real sockets', () => {
  it('serves the page with the chat UI at /', async () => {
    const response = await fetch(`${server.url}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const page = await response.text();
    expect(page).toContain('<!doctype html>');
    expect(page).toContain('id="log"');
    expect(page).toContain('/chat');
    expect(page).toContain("new EventSource('/ticker')");
  });

  it('answers /health with JSON', async () => {
    const response = await fetch(`${server.url}/health`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toEqual({ ok: true });
  });

  it('answers unknown paths with 404', async () => {
    const response = await fetch(`${server.url}/nope`);
    expect(response.status).toBe(404);
    expect(await response.text()).toBe('Not Found\n');
  });

  it('answers other methods than GET and HEAD with 405 and the allowed ones', async () => {
    const response = await fetch(`${server.url}/`, { method: 'POST', body: 'x' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD');
    expect(await response.text()).toBe('Method Not Allowed\n');
    const head = await fetch(`${server.url}/health`, { method: 'HEAD' });
    expect(head.status).toBe(200);
  });

  it('answers a plain GET of /chat with 426', async () => {
    const response = await fetch(`${server.url}/chat`);
    expect(response.status).toBe(426);
    await response.arrayBuffer();
  });

  it('streams SSE from /ticker and stops when the client goes away', async () => {
    const response = await fetch(`${server.url}/ticker`);
    const open = server.connections;
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    const events: { count: number; time: string }[] = [];
    while (events.length < 2) {
      const { value, done } = await reader.read();
      expect(done).toBe(false);
      buffer += decoder.decode(value, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const data = buffer
          .slice(0, end)
          .split('\n')
          .find((line) => line.startsWith('data: '));
        if (data !== undefined) events.push(JSON.parse(data.slice('data: '.length)));
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
      }
    }
    expect(events[0].count).toBe(0);
    expect(events[1].count).toBe(1);
    expect(Number.isNaN(Date.parse(events[1].time))).toBe(false);
    await reader.cancel();

    // The stream's connection goes away, and the server still answers.
    // (undici may take a few seconds to drop a cancelled body's socket.)
    await until(() => server.connections < open, 10_000);
    const health = await fetch(`${server.url}/health`);
    expect(await health.json()).toEqual({ ok: true });
  });

  it('ends the ticker when the server shuts down, instead of holding it up', async () => {
    const own = await serve(app, { port: 0 });
    const response = await fetch(`${own.url}/ticker`);
    const reader = response.body!.getReader();
    await reader.read();
    const started = Date.now();
    await own.close();
    // The default shutdown deadline is 10 s; an ended stream lets it finish at once.
    expect(Date.now() - started).toBeLessThan(2_000);
    for (;;) {
      const { done } = await reader.read();
      if (done) break;
    }
  });

  it('broadcasts chat messages to every client, the sender included', async () => {
    const a = new ChatClient(wsUrl('/chat'));
    await a.opened;
    await until(() => a.system().length > 0);
    const b = new ChatClient(wsUrl('/chat'));
    await b.opened;
    try {
      // Presence across the room: b hears of a (its `here`), a hears b's hello.
      await until(() => b.system().at(-1) === '2 online');
      await until(() => a.system().at(-1) === '2 online');

      const before = Date.now();
      a.send({ name: 'a', text: 'hi' });
      for (const client of [a, b]) {
        const message = await client.said('hi');
        expect(message.name).toBe('a');
        expect(message.text).toBe('hi');
        expect(typeof message.at).toBe('string');
        expect(Date.parse(message.at!)).toBeGreaterThanOrEqual(before - 1000);
      }

      // Invalid messages are ignored: too long, a name too long, not JSON, no text.
      a.send({ name: 'a', text: 'x'.repeat(501) });
      a.send({ name: 'n'.repeat(41), text: 'long name' });
      a.send('not json');
      a.send({ name: 'a' });
      b.send({ name: 'b', text: 'after' });
      for (const client of [a, b]) await client.said('after');
      for (const client of [a, b]) {
        expect(client.chat().map((message) => message.text)).toEqual(['hi', 'after']);
      }

      // A leave reaches the others through b's farewell.
      await b.close();
      await until(() => a.system().at(-1) === '1 online');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('sends a new client the recent history first, at most 20 messages', async () => {
    const writer = new ChatClient(wsUrl('/chat'));
    await writer.opened;
    try {
      for (let i = 0; i < 25; i++) writer.send({ name: 'w', text: `m${i}` });
      await writer.said('m24');
      const reader = new ChatClient(wsUrl('/chat'));
      await reader.opened;
      try {
        await until(() => reader.chat().length >= 20 && reader.system().length > 0);
        expect(reader.chat().map((message) => message.text)).toEqual(
          Array.from({ length: 20 }, (_, i) => `m${i + 5}`),
        );
        // History comes before anything else.
        expect(reader.received[0].system).toBeUndefined();
        expect(reader.received.slice(0, 20).every((m) => m.system === undefined)).toBe(true);
      } finally {
        await reader.close();
      }
    } finally {
      await writer.close();
    }
  });
});

describe('demo chat across processes', () => {
  const brokers: Broker[] = [];

  afterAll(async () => {
    await Promise.all(brokers.map((broker) => broker.stop()));
  });

  /** The `--bus` flags for a broker this suite started, and stops afterwards. */
  const on = async (start: () => Promise<Broker>) => {
    const broker = await start();
    brokers.push(broker);
    return ['--bus', broker.url];
  };
  const buses: [string, () => Promise<string[]>][] = [
    ['the embedded bus', async () => []],
    ['Redis', () => on(startRedis)],
    ['NATS', () => on(startNats)],
  ];

  it('gives newcomers on either process the same history over `--workers 2`', async () => {
    const child = await cli('apps/demo.ts', '--workers', '2');
    const url = `${child.url.replace('http', 'ws')}/chat`;
    const clients: ChatClient[] = [];
    try {
      // One member, on one process, says three things; the other process has heard nothing.
      const writer = new ChatClient(url);
      clients.push(writer);
      await writer.opened;
      for (const text of ['one', 'two', 'three']) {
        writer.send({ name: 'writer', text });
        await writer.said(text);
      }
      // Four newcomers in a row: node:cluster hands them to both processes in turn.
      for (let i = 0; i < 4; i++) {
        const newcomer = new ChatClient(url);
        clients.push(newcomer);
        await until(() => newcomer.chat().length >= 3, 5_000);
        expect(newcomer.chat().map((message) => message.text)).toEqual(['one', 'two', 'three']);
      }
    } finally {
      await Promise.all(clients.map((client) => client.close()));
      child.kill('SIGTERM');
      expect(await child.exited).toBe(0);
    }
  });

  it.each(buses)('is one room over `--workers 2` on %s: messages and presence', async (_, bus) => {
    const child = await cli('apps/demo.ts', '--workers', '2', ...(await bus()));
    const url = `${child.url.replace('http', 'ws')}/chat`;
    // node:cluster hands connections to the workers in turn: four clients are on both.
    const clients = [
      new ChatClient(url),
      new ChatClient(url),
      new ChatClient(url),
      new ChatClient(url),
    ];
    try {
      await Promise.all(clients.map((client) => client.opened));
      for (const client of clients) await until(() => client.system().at(-1) === '4 online');
      clients[1].send({ name: 'two', text: 'across processes' });
      for (const client of clients) await client.said('across processes');
      await clients[3].close();
      for (const client of clients.slice(0, 3)) {
        await until(() => client.system().at(-1) === '3 online');
      }
    } finally {
      await Promise.all(clients.map((client) => client.close()));
      child.kill('SIGTERM');
      expect(await child.exited).toBe(0);
    }
  });
});
