// A floor, not a server to use: hello world on node:net and llhttp (the parser node:http itself
// runs, here undici's WebAssembly build of it, in request mode) without node:http's request,
// response and stream objects. What an HTTP/1.1 driver that owned its wire could cost at least;
// bench/instructions.mjs shows it beside raw node:http with BENCH_INSTR_FLOOR=1
// (docs/internals.md, "node:http's own share"). It builds a plain request object for each
// request (method, target, header list) as a driver would, and answers each with the bytes
// raw-http1.mjs sends; a parse error closes the connection with a 400.
import { createRequire } from 'node:module';
import net from 'node:net';
import { HOST, PORT, ready } from './common.mjs';

const require = createRequire(import.meta.url);
// undici's own files: not a public API, but the same parser build since undici 5.
const wasm = require('undici/lib/llhttp/llhttp-wasm.js');
const { TYPE, METHODS } = require('undici/lib/llhttp/constants.js');

const METHOD_NAMES = [];
for (const [name, code] of Object.entries(METHODS)) METHOD_NAMES[code] = name;

const HEAD = 'HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 14\r\n';
const KEEP = Buffer.from(`${HEAD}\r\nHello, world!\n`);
const CLOSE = Buffer.from(`${HEAD}connection: close\r\n\r\nHello, world!\n`);
const BAD = Buffer.from(
  'HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n',
);

// The connection whose bytes the parser is reading, and where they are in its memory.
let current = null;
let chunk = null;
let base = 0;
const text = (at, length) => chunk.latin1Slice(at - base, at - base + length);

const parser = new WebAssembly.Instance(new WebAssembly.Module(wasm), {
  env: {
    wasm_on_message_begin: () => current.begin(),
    wasm_on_url: (_p, at, length) => current.url(text(at, length)),
    wasm_on_status: () => 0,
    wasm_on_header_field: (_p, at, length) => current.field(text(at, length).toLowerCase()),
    wasm_on_header_value: (_p, at, length) => current.field(text(at, length)),
    wasm_on_headers_complete: (_p, _status, _upgrade, keepAlive) => current.head(keepAlive === 1),
    wasm_on_body: () => 0,
    wasm_on_message_complete: () => current.complete(),
  },
}).exports;

// One input buffer in the parser's memory, grown to the largest chunk read.
let size = 0;
let buffer = 0;

class Connection {
  constructor(socket) {
    this.socket = socket;
    this.parser = parser.llhttp_alloc(TYPE.REQUEST);
    this.target = '';
    this.headers = [];
    this.keepAlive = true;
    this.request = null;
  }
  begin() {
    this.target = '';
    this.headers = [];
    return 0;
  }
  url(part) {
    this.target += part;
    return 0;
  }
  field(part) {
    this.headers.push(part);
    return 0;
  }
  head(keepAlive) {
    this.keepAlive = keepAlive;
    this.request = {
      type: 'request',
      method: METHOD_NAMES[parser.llhttp_get_method(this.parser)],
      target: this.target,
      headers: this.headers,
    };
    return 0;
  }
  complete() {
    if (this.keepAlive) this.socket.write(KEEP);
    else this.socket.end(CLOSE);
    this.request = null;
    return 0;
  }
  read(data) {
    if (data.length > size) {
      if (buffer !== 0) parser.free(buffer);
      size = Math.ceil(data.length / 4096) * 4096;
      buffer = parser.malloc(size);
    }
    new Uint8Array(parser.memory.buffer, buffer, size).set(data);
    current = this;
    chunk = data;
    base = buffer;
    const error = parser.llhttp_execute(this.parser, buffer, data.length);
    current = null;
    chunk = null;
    if (error !== 0) this.socket.end(BAD);
  }
}

const server = net.createServer({ noDelay: true }, (socket) => {
  const connection = new Connection(socket);
  socket.on('data', (data) => connection.read(data));
  socket.on('close', () => parser.llhttp_free(connection.parser));
  socket.on('error', () => {});
});
server.listen(PORT, HOST, () => ready(server.address().port));
