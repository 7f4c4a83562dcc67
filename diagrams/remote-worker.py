#!/usr/bin/env python3
"""Writes remote-worker.dot: a server forwarding its connections to remote workers on a bus.

The picture is a sequence diagram drawn by sequence.py (shared with the connection pictures),
with five participants: the clients, the server's driver, `remoteApp(bus)` in the server
process (protocols/remote/forward.ts), and two processes running `runWorker(app, bus)`
(protocols/remote/worker.ts). Edit STEPS below, then run this script and re-render (README.md).

Frames are msgpack [version, kind, key, seq, payload] (protocols/remote/frame.ts, SPEC.md
§14.8). Ids are shortened: the server is s1 and the workers w1 and w2 (12 hex digits each in
practice), and a connection's key is the server id and a serial, s1.1.
"""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in diagrams/

from sequence import CALL, INBOUND, OUTBOUND, WIRE, Column, Diagram, write  # noqa: E402

FRAME = 'color="#b07d12", fontcolor="#7a5608", penwidth=1.5, fontname="Courier", fontsize=9'
HELLO = 'style=dashed, color="#3f9a5e", fontcolor="#2e7547", fontname="Courier", fontsize=9'

KINDS = {
    "wire-in": ("c", "d", WIRE),
    "wire-out": ("d", "c", WIRE),
    "in": ("d", "r", INBOUND),  # an inbound event, driver to remoteApp
    "out": ("r", "d", OUTBOUND),  # an outbound event, remoteApp to driver
    "call": ("d", "r", CALL),
    "to-w1": ("r", "w", FRAME),  # a frame on rxgi.worker.w1
    "from-w1": ("w", "r", FRAME),  # a frame on rxgi.server.s1
    "to-w2": ("r", "v", FRAME),
    "from-w2": ("v", "r", FRAME),
    "hello-w1": ("w", "r", HELLO),  # a heartbeat on rxgi.workers
    "hello-w2": ("v", "r", HELLO),
    "note": None,
}

# (phase label, kind, label, note); the kinds are above.
STEPS = [
    # ① The workers announce themselves; the server keeps those it heard from lately.
    ("① workers announce\nrxgi.workers, every 1 s", "hello-w1",
     "HELLO w1 { load: 0, accepting: true }",
     "each worker subscribes to its own\nsubject (rxgi.worker.w1) first,\nso no OPEN is missed"),
    ("", "hello-w2", "HELLO w2 { load: 0, accepting: true }",
     "a worker unheard for workerTimeout\n(3 s) is dead"),
    # ② An HTTP/1.1 POST: its connection is placed on the least-loaded worker and stays there.
    ("② a POST, placed on\nthe least-loaded worker\nconnection h1-1", "wire-in",
     "POST /upload HTTP/1.1\ncontent-length: 102400", ""),
    ("", "call", "app(events$, info)",
     "serve(remoteApp(bus)) calls the\nforwarding app once per connection"),
    ("", "in", "request { stream: 1, method: 'POST',\npath: '/upload', end: false }",
     "the first request places the\nconnection: least load, ties\nin turn; w1 it is"),
    ("", "to-w1", "OPEN s1.1 seq 0 { server: 's1', info }", "w1 calls its app(events$, info)"),
    ("", "to-w1", "EVENT s1.1 seq 1: request { stream: 1, … }",
     "seq numbers each direction of a\nconnection: a gap fails it"),
    # ③ The body crosses only as fast as the worker's app asks for it.
    ("③ the body, as fast as\nthe worker's app reads", "from-w1",
     "EVENT s1.1 seq 0: window { stream: 1, bytes: 65536 }",
     "the worker's app reads the body\n(await req.text())"),
    ("", "out", "window { stream: 1, bytes: 65536 }",
     "the server's Connection gets the\ncredit, as if the app ran here"),
    ("", "wire-in", "64 KiB of body", "read only now: without\ncredit the socket is paused"),
    ("", "in", "data { stream: 1, chunk: 64 KiB, end: false }", ""),
    ("", "to-w1", "EVENT s1.1 seq 2: data { stream: 1, 64 KiB }",
     "nothing more until the next\nwindow: at most the windows\nare on the bus"),
    ("", "from-w1", "EVENT s1.1 seq 1: window { stream: 1, bytes: 65536 }", ""),
    ("", "out", "window { stream: 1, bytes: 65536 }", ""),
    ("", "wire-in", "36 KiB of body", ""),
    ("", "in", "data { stream: 1, chunk: 36 KiB, end: true }", ""),
    ("", "to-w1", "EVENT s1.1 seq 3: data { stream: 1, end: true }", ""),
    # ④ The response crosses only as fast as the client reads it.
    ("④ the response, as fast\nas the client reads", "from-w1",
     "EVENT s1.1 seq 2: response { stream: 1,\nstatus: 200, end: false }", ""),
    ("", "out", "response { stream: 1, status: 200, end: false }",
     "checked by the server's\nConnection like any output"),
    ("", "wire-out", "HTTP/1.1 200 OK", ""),
    ("", "from-w1", "EVENT s1.1 seq 3: data { stream: 1, chunk: 64 KiB }",
     "the worker's app spent\nits output credit"),
    ("", "out", "data { stream: 1, chunk: 64 KiB, end: false }", ""),
    ("", "wire-out", "64 KiB of body", ""),
    ("", "in", "window { stream: 1, bytes: 65536 }", "the client took it:\noutput credit back"),
    ("", "to-w1", "EVENT s1.1 seq 4: window { stream: 1, bytes: 65536 }",
     "the worker's app may send on"),
    ("", "from-w1", "EVENT s1.1 seq 4: data { stream: 1, chunk: '…', end: true }", ""),
    ("", "out", "data { stream: 1, chunk: '…', end: true }", ""),
    ("", "wire-out", "the rest of the body",
     "exchange done; the keep-alive\nconnection stays on w1"),
    ("", "to-w1", "PING s1", "every 1 s to each worker serving\nconnections here; a worker drops\n"
     "those of a server unheard for 3 s"),
    # ⑤ An HTTP/2 connection on the other worker: a WebSocket and a GET on two streams.
    ("⑤ an HTTP/2 connection\non the other worker\nconnection h2-1", "wire-in",
     "preface, SETTINGS", ""),
    ("", "call", "app(events$, info)",
     "at the session's start; nothing\ncrosses the bus before a request"),
    ("", "wire-in", "HEADERS stream 1 :method CONNECT,\n:protocol websocket, :path /chat",
     "a WebSocket over HTTP/2 (RFC 8441)"),
    ("", "in", "request { stream: 1, path: '/chat',\nwebsocket: true, http: '2' }",
     "w1 carries h1-1, so w2 has\nthe least load"),
    ("", "to-w2", "OPEN s1.2 seq 0, then EVENT s1.2 seq 1: request",
     "two frames to rxgi.worker.w2"),
    ("", "from-w2", "EVENT s1.2 seq 0: ws-accept { stream: 1 }", ""),
    ("", "out", "ws-accept { stream: 1 }", ""),
    ("", "wire-out", "HEADERS stream 1 :status 200", "the WebSocket is open"),
    ("", "wire-in", "HEADERS stream 3, END_STREAM\n:method GET, :path /report", ""),
    ("", "in", "request { stream: 3, path: '/report', end: true }", ""),
    ("", "to-w2", "EVENT s1.2 seq 2: request { stream: 3, … }",
     "the same connection, so\nthe same worker; no answer yet"),
    # ⑥ Worker 2 dies: every open stream of its connections fails as SPEC.md §9 says.
    ("⑥ worker 2 dies", "hello-w1", "HELLO w1 { load: 1, accepting: true }",
     "w2 crashed: no more HELLOs\nor frames from it"),
    ("", "note", "", "3 s later (workerTimeout) the\nserver's sweep declares w2 dead"),
    ("", "out", "close { stream: 1, code: 1011,\nreason: 'the worker timed out' }",
     "a WebSocket closes with 1011"),
    ("", "wire-out", "DATA stream 1: close frame 1011", ""),
    ("", "out", "response { stream: 3, status: 502, end: true }",
     "no response head yet: 502\n(after a head: an abort,\nRST_STREAM on HTTP/2)"),
    ("", "wire-out", "HEADERS stream 3 :status 502, DATA, END_STREAM", ""),
    ("", "note", "", "the app's output completes: the\nconnection closes once idle (GOAWAY);\n"
     "new connections go to w1, and with\nno live worker a request gets 503"),
]

DIAGRAM = Diagram(
    name="remote-worker",
    summary=[
        "A server whose app is remoteApp(bus) forwards each connection's events over a bus to",
        "worker processes running runWorker(app, bus): heartbeats, placement on the least-loaded",
        "worker, flow control by window events both ways, and a worker that dies.",
        "GENERATED by remote-worker.py: edit that, not this.",
    ],
    title="Remote workers: a connection's events cross the bus",
    columns=[
        Column("c", "Clients", "an HTTP/1.1 client, an h2 client"),
        Column("d", "Driver", "serve: http1.ts, http2.ts, Connection", "#e8f1fb", "#4a7fc1"),
        Column("r", "remoteApp(bus)", "the server's app; server id s1", "#e8f1fb", "#4a7fc1"),
        Column("w", "Worker w1", "runWorker(app, bus)", "#eaf6ee", "#3f9a5e"),
        Column("v", "Worker w2", "runWorker(app, bus)", "#eaf6ee", "#3f9a5e"),
    ],
    kinds=KINDS,
    legend=[
        (None, "grey: bytes on the wire, between client and driver"),
        ("#2f5f9e", "blue: inbound events, driver to remoteApp"),
        ("#8f1270", "magenta: outbound events, remoteApp to driver"),
        ("#7a5608", "gold: frames [1, kind, key, seq, payload] on the bus, "
                    "to rxgi.worker.&lt;id&gt; and rxgi.server.&lt;id&gt;"),
        ("#2e7547", "green, dashed: heartbeats on rxgi.workers"),
    ],
)

if __name__ == "__main__":
    write(DIAGRAM, STEPS)
