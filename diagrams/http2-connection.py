#!/usr/bin/env python3
"""Writes http2-connection.dot: one HTTP/2 connection as rxgi events.

The picture is a sequence diagram drawn by sequence.py (shared with http1-connection.py).
Edit STEPS below, then run this script and re-render (README.md).

The picture shows the events SPEC.md §4 to §8 define, mapped onto HTTP/2 frames (RFC 9113) and
WebSockets over HTTP/2 (RFC 8441), as the HTTP/2 driver (protocols/drivers/http2.ts, SPEC.md §11.6)
produces them.
"""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in diagrams/

from sequence import Diagram, write  # noqa: E402

# (phase label, kind, label, note); the kinds are described in sequence.py.
STEPS = [
    # ① The connection: preface and SETTINGS both ways, then the app, once.
    ("① preface and SETTINGS\nstream 0", "wire-in", "TLS handshake, ALPN h2", ""),
    ("", "wire-in", "preface PRI * HTTP/2.0\nSETTINGS ENABLE_PUSH=1", "the client accepts pushes"),
    ("", "wire-out", "SETTINGS ENABLE_CONNECT_PROTOCOL=1,\nMAX_CONCURRENT_STREAMS=100; SETTINGS ACK",
     "RFC 8441 WebSockets on;\nbodies are read only as the\napp grants credit (§6.1)"),
    ("", "wire-in", "SETTINGS ACK", ""),
    ("", "call", "app(events$, { protocol: 'h2', secure: true, … })",
     "called once per connection,\nfor all of its streams"),
    # ② A GET whose handler pushes a script; the promised request is served like any other.
    ("② GET / with a push\nstreams 1 and 2", "wire-in",
     "HEADERS stream 1, END_STREAM\n:method GET, :path /", ""),
    ("", "in", "request { stream: 1, method: 'GET', path: '/', http: '2',\n"
     "caps: { push: true, trailers: true,\nearlyHints: true, websocket: true }, end: true }",
     "push: the client sent ENABLE_PUSH=1;\nwebsocket: the server sent\n"
     "ENABLE_CONNECT_PROTOCOL=1"),
    ("", "out", "push { stream: 1, path: '/app.js', headers: [] }",
     "request.push('/app.js'),\nbefore the head"),
    ("", "wire-out", "PUSH_PROMISE stream 1, promised stream 2\n:method GET, :path /app.js",
     "promised before any frame\nthat refers to the script"),
    ("", "in", "request { stream: 2, method: 'GET', path: '/app.js',\nhttp: '2', end: true }",
     "the promised request enters the app\nas a new stream; the same route\nanswers it"),
    ("", "out", "response { stream: 1, status: 200, end: false }", "head; the body follows"),
    ("", "wire-out", "HEADERS stream 1\n:status 200", ""),
    ("", "out", "response { stream: 2, status: 200,\nbody: 'import …', end: true }",
     "a whole response in one event"),
    ("", "wire-out", "HEADERS stream 2 :status 200\nDATA stream 2, END_STREAM", "stream 2 is done"),
    # ③ A POST with a body and trailers, interleaved with the rest of stream 1.
    ("③ POST with a body\nand trailers\nstream 3", "wire-in",
     "HEADERS stream 3\n:method POST, :path /api", "no END_STREAM: a body follows"),
    ("", "in", "request { stream: 3, method: 'POST', path: '/api',\nhttp: '2', end: false }",
     "the handler runs;\nawait req.json() starts to read"),
    ("", "out", "window { stream: 3, bytes: 65536 }", "the body reader asks for input"),
    ("", "wire-out", "WINDOW_UPDATE stream 3, +65536",
     "the client may now send\n64 KiB of DATA on stream 3"),
    ("stream 1, continued", "out", "data { stream: 1, chunk: 48 KiB, end: false }",
     "spends output credit"),
    ("", "wire-out", "DATA stream 1 (3 × 16 KiB)", "frames of streams interleave"),
    ("stream 3, continued", "wire-in", "DATA stream 3 (16 KiB)", ""),
    ("", "in", "data { stream: 3, chunk: 16 KiB, end: false }", ""),
    ("stream 1, continued", "in", "window { stream: 1, bytes: 49152 }",
     "flushed bytes granted back\n(in batches of ≥ 32 KiB)"),
    ("", "out", "data { stream: 1, chunk: '', end: true }", "exchange done"),
    ("", "wire-out", "DATA stream 1, END_STREAM (empty)", "stream 1 is done"),
    ("stream 3, continued", "wire-in", "DATA stream 3 (4 KiB)", ""),
    ("", "in", "data { stream: 3, chunk: 4 KiB, end: false }", ""),
    ("", "wire-in", "HEADERS stream 3, END_STREAM\ndigest: sha-256=…", "request trailers"),
    ("", "in", "trailers { stream: 3, headers: ['digest', …] }",
     "the trailers end the body:\nno data { end: true } follows"),
    ("", "out", "response { stream: 3, status: 200, body: '{…}',\n"
     "trailers: true, end: false }", "trailers announced up front"),
    ("", "wire-out", "HEADERS stream 3 :status 200\nDATA stream 3", ""),
    ("", "out", "trailers { stream: 3, headers: ['server-timing', …] }",
     "ends the response"),
    ("", "wire-out", "HEADERS stream 3, END_STREAM\nserver-timing: …", "stream 3 is done"),
    # ④ A WebSocket on its own stream: the app sees what it sees for an HTTP/1.1 upgrade.
    ("④ WebSocket over HTTP/2\n(RFC 8441)\nstream 5", "wire-in",
     "HEADERS stream 5\n:method CONNECT, :protocol websocket\n"
     ":path /chat, sec-websocket-version: 13", "extended CONNECT"),
    ("", "in", "request { stream: 5, path: '/chat', websocket: true,\n"
     "http: '2', subprotocols: [], end: true }",
     "the events of an HTTP/1.1 upgrade;\nonly http differs"),
    ("", "out", "ws-accept { stream: 5, subprotocol: null }", "upgrade(chat)"),
    ("", "wire-out", "HEADERS stream 5\n:status 200",
     "200, not 101: the stream stays\nopen and its DATA frames\ncarry WebSocket frames"),
    ("", "out", "window { stream: 5, bytes: 65536 }", "may receive 64 KiB of messages"),
    ("", "wire-out", "WINDOW_UPDATE stream 5, +65536", ""),
    ("", "wire-in", 'DATA stream 5\ntext frame {"name":"a","text":"hi"}',
     "WebSocket frames ride\nin DATA frames"),
    ("", "in", "ws-message { stream: 5, data: '{\"name\":\"a\",…}' }", ""),
    ("", "out", "ws-message { stream: 5, data: '{…,\"at\":…}' }",
     "broadcast by the hub,\nsender included"),
    ("", "wire-out", 'DATA stream 5\ntext frame {…,"at":…}', ""),
    # ⑤ The client cancels one stream; the others, and the connection, go on.
    ("⑤ a cancelled stream\nstream 7", "wire-in",
     "HEADERS stream 7, END_STREAM\n:method GET, :path /ticker", "Server-Sent Events"),
    ("", "in", "request { stream: 7, method: 'GET', path: '/ticker',\nhttp: '2', end: true }",
     ""),
    ("", "out", "response { stream: 7, status: 200, end: false }", "an endless body"),
    ("", "wire-out", "HEADERS stream 7 :status 200", ""),
    ("", "out", "data { stream: 7, chunk: 'id: 0…', end: false }", "one tick a second"),
    ("", "wire-out", "DATA stream 7 (id: 0 …)", ""),
    ("", "wire-in", "RST_STREAM stream 7, CANCEL", "the client navigated away"),
    ("", "in", "close { stream: 7, code: 8, reason: … }",
     "stream 7 only: the ticker is\nunsubscribed; stream 5 and\nthe connection go on"),
    ("stream 5, continued", "wire-in", "DATA stream 5\nclose frame 1000", ""),
    ("", "in", "close { stream: 5, code: 1000, reason: '' }",
     "the session's output\nis unsubscribed"),
    ("", "wire-out", "DATA stream 5, END_STREAM\nclose frame 1000",
     "the stream ends;\nthe connection stays open"),
    # ⑥ Graceful shutdown: the app hears it on stream 0, the client by GOAWAY.
    ("⑥ server shutdown\nstream 0", "in", "shutdown { stream: 0, deadline: 10000 }",
     "request.shutdown aborts;\nin-flight exchanges may finish"),
    ("", "wire-out", "GOAWAY last-stream-id 7, NO_ERROR",
     "no new streams; no stream is\nopen, so the connection closes"),
    ("", "wire-out", "TLS close_notify, TCP FIN", ""),
    ("", "call", "events$ completes", "the app's output\nis unsubscribed"),
]

DIAGRAM = Diagram(
    name="http2-connection",
    summary=[
        "One HTTP/2 connection as rxgi events: a GET with a server push, a POST with a body and",
        "trailers, a WebSocket (RFC 8441), a cancelled stream and a graceful shutdown, on",
        "interleaved streams. GENERATED by http2-connection.py: edit that, not this.",
    ],
    title="One HTTP/2 connection, as events",
    client="browser, h2 client",
    driver="HTTP/2 driver, node:http2",
    app="handle(route), as in apps/demo.ts",
)

if __name__ == "__main__":
    write(DIAGRAM, STEPS)
