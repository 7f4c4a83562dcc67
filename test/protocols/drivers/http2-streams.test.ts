import { execFile } from 'node:child_process';
import http2, { type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { StreamMap, unchainStreams } from '../../../protocols/drivers/http2-streams.js';
import { session as connect, exchange } from '../../h2client.js';
import { promotedAfterFullGc } from '../../helpers.js';

const run = promisify(execFile);
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

describe('StreamMap', () => {
  it('has the Map interface node uses, and forEach skips what an earlier callback deleted', () => {
    const map = new StreamMap<string>();
    expect(map.set(1, 'a').set(3, 'b').set(5, 'c').size).toBe(3);
    expect(map.get(3)).toBe('b');
    expect(map.has(5)).toBe(true);
    expect(map.delete(5)).toBe(true);
    expect(map.delete(5)).toBe(false);
    map.set(7, 'd');
    expect([...map.keys()].sort()).toEqual([1, 3, 7]);
    expect([...map.values()].sort()).toEqual(['a', 'b', 'd']);
    expect(new Map(map)).toEqual(
      new Map([
        [1, 'a'],
        [3, 'b'],
        [7, 'd'],
      ]),
    );
    const visited: string[] = [];
    map.forEach((value) => {
      visited.push(value);
      // Closing one stream closes the others, as a session's destroy does.
      map.delete(1);
      map.delete(3);
      map.delete(7);
    });
    expect(visited).toHaveLength(1);
    expect(map.size).toBe(0);
    map.set(9, 'e');
    map.clear();
    expect(map.size).toBe(0);
    expect(String(map)).toBe('[object StreamMap]');
  });
});

/** A bare node:http2 server whose sessions get a StreamMap; resolves to its sessions too. */
async function unchainedServer(onStream: (stream: ServerHttp2Stream) => void) {
  const server = http2.createServer();
  const sessions: ServerHttp2Session[] = [];
  const unchained: boolean[] = [];
  server.on('session', (session) => {
    sessions.push(session);
    unchained.push(unchainStreams(session));
  });
  server.on('stream', onStream);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, sessions, unchained };
}

describe('unchainStreams on node:http2 sessions', () => {
  it('takes over the session table on this node version, and node serves through it', async () => {
    const { url, unchained } = await unchainedServer((stream) => {
      stream.respond({ ':status': 200 });
      stream.end(String(stream.id));
    });
    const client = await connect(url);
    cleanups.push(() => client.close());
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => exchange(client, { ':path': '/' })),
    );
    expect(unchained).toEqual([true]);
    expect(answers.map((answer) => Number(answer.body.toString()))).toEqual(
      Array.from({ length: 50 }, (_, i) => 2 * i + 1),
    );
  });

  it("a session destroyed with streams open closes every one of them (node's forEach)", async () => {
    const opened: ServerHttp2Stream[] = [];
    const { url, sessions, unchained } = await unchainedServer((stream) => opened.push(stream));
    const client = await connect(url);
    cleanups.push(() => client.destroy());
    client.on('error', () => {});
    const closed = Array.from({ length: 5 }, () => {
      const stream = client.request({ ':path': '/' });
      stream.on('error', () => {});
      return new Promise<void>((resolve) => stream.once('close', () => resolve()));
    });
    while (opened.length < 5) await new Promise((resolve) => setTimeout(resolve, 5));
    sessions[0]!.destroy();
    await Promise.all(closed);
    expect(unchained).toEqual([true]);
    expect(opened.every((stream) => stream.destroyed)).toBe(true);
  });
});

/** 60,000 requests from h2load: 2 connections, 10 streams each. */
async function h2load(port: number): Promise<number> {
  const requests = 60_000;
  const { stdout } = await run('h2load', [
    '-n',
    String(requests),
    '-c2',
    '-m10',
    `http://127.0.0.1:${port}/`,
  ]);
  expect(stdout).toContain(`${requests} succeeded`);
  return requests;
}

/**
 * On node 24 (V8 13.6) node:http2's own code, compiled by Maglev in its first seconds under load,
 * promotes every stream for a few scavenges, with or without rxgi; a mark-compact in that window
 * makes V8 allocate node's per-stream objects (Duplex's, Http2Stream's) in the old generation
 * for good, and each stream is promoted from then on, in any server (docs/internals.md, "Stream
 * tables"). Whether V8's own mark-compact comes first is a race, which the servers here run
 * without Maglev to avoid: what is measured is rxgi's tables, not that warm-up.
 */
const V8_FLAGS = Number(process.versions.node.split('.')[0]) >= 24 ? ['--no-maglev'] : [];

describe('a long HTTP/2 session after a full GC (the process, measured)', () => {
  it("rxgi's sessions promote nothing per request; bare node:http2's promote each stream", async () => {
    const raw = await promotedAfterFullGc('raw-h2', 20_000, h2load, V8_FLAGS);
    const rxgi = await promotedAfterFullGc('rxgi', 20_000, h2load, V8_FLAGS);
    // Enough scavenges that promotion would show; the bare server is the control.
    expect(raw.scavenges).toBeGreaterThanOrEqual(5);
    expect(rxgi.scavenges).toBeGreaterThanOrEqual(5);
    expect(raw.perRequest).toBeGreaterThan(300);
    expect(rxgi.perRequest).toBeLessThan(100);
  }, 60_000);
});
