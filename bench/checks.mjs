// The response checks of the benchmark runner (run.mjs): before a scenario is measured, both
// servers answer the same request, and what they put on the wire is compared (but for values
// that must differ, such as Date). A difference is printed as a warning, with both answers.
// Each check is `(baseline, rxgi, scenario) => Promise<void>`; a server is { label, port }.
import http2 from 'node:http2';
import net from 'node:net';
import { warn } from './lib.mjs';

export async function compareHttp1Responses(baseline, rxgi, scenario) {
  const [a, b] = await Promise.all([
    rawGet(baseline.port, scenario.path),
    rawGet(rxgi.port, scenario.path),
  ]);
  const normalize = (text) => text.replace(/^date: .*$/im, 'Date: <date>');
  if (normalize(a) === normalize(b)) {
    console.log(`responses: identical but for Date (${Buffer.byteLength(a)} bytes)`);
    return;
  }
  warn('the two servers answer with different bytes:');
  console.log(indent(`${baseline.label}:\n${indent(a)}\n${rxgi.label}:\n${indent(b)}`));
}

/**
 * Express through fromNodeHandler: the status, content-type and body must be identical, and so
 * must the set of header fields (names compared case-insensitively: rxgi sends them lower-case)
 * but for the values of Date and ETag.
 */
export async function compareExpressResponses(baseline, rxgi, scenario) {
  const [a, b] = (
    await Promise.all([rawGet(baseline.port, scenario.path), rawGet(rxgi.port, scenario.path)])
  ).map(parseHttp1Response);
  const problems = headProblems(a, b, ['date', 'etag']);
  if (a.body !== b.body)
    problems.push(`body: ${JSON.stringify(a.body)} vs ${JSON.stringify(b.body)}`);
  if (problems.length === 0) {
    console.log(
      `responses: same status line, headers and ${Buffer.byteLength(a.body)}-byte body ` +
        `(${a.headers.size} fields: ${[...a.headers.keys()].join(', ')}; ` +
        'names case-insensitive, date and etag values not compared)',
    );
    return;
  }
  warn(`the two servers answer differently: ${problems.join('; ')}`);
  console.log(indent(`${baseline.label}:\n${indent(a.text)}\n${rxgi.label}:\n${indent(b.text)}`));
}

/**
 * How two parsed HTTP/1.1 heads differ: the status line, and each header field (the values of
 * those named in `presenceOnly` only for whether they are there).
 */
function headProblems(a, b, presenceOnly) {
  const problems = [];
  if (a.status !== b.status) problems.push(`status: ${a.status} vs ${b.status}`);
  const names = new Set([...a.headers.keys(), ...b.headers.keys()]);
  for (const name of names) {
    if (presenceOnly.includes(name)) {
      if (a.headers.has(name) !== b.headers.has(name)) problems.push(`${name}: only on one side`);
    } else if (a.headers.get(name) !== b.headers.get(name)) {
      problems.push(`${name}: ${a.headers.get(name)} vs ${b.headers.get(name)}`);
    }
  }
  return problems;
}

/** A raw HTTP/1.1 response: status line, header fields by lower-case name (joined), body. */
function parseHttp1Response(text) {
  const end = text.indexOf('\r\n\r\n');
  const [status, ...lines] = text.slice(0, end).split('\r\n');
  const headers = new Map();
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
  }
  return { text, status, headers, body: text.slice(end + 4) };
}

/** One GET on a fresh keep-alive connection; the response head and body as text. */
function rawGet(port, target) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no response from :${port} within 5 s`));
    }, 5_000);
    socket.on('error', reject);
    socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = data.subarray(0, end).toString('latin1');
      const length = Number(/^content-length: *(\d+)/im.exec(head)?.[1] ?? 0);
      if (data.length < end + 4 + length) return;
      clearTimeout(timer);
      socket.destroy();
      resolve(data.subarray(0, end + 4 + length).toString('latin1'));
    });
  });
}

/**
 * Both servers should answer with the same status, header fields (but for the Date value) and
 * body over h2c. A different order of the fields is told apart from different fields: it
 * changes the HPACK bytes, not the meaning (RFC 9113 §8.2 only puts pseudo-headers first).
 */
export async function compareHttp2Responses(baseline, rxgi, scenario) {
  const [a, b] = await Promise.all([h2Get(baseline, scenario.path), h2Get(rxgi, scenario.path)]);
  const normalize = (text) => text.replace(/^date: .*$/im, 'date: <date>');
  const summary = `status ${a.status}, ${a.headerCount} headers, ${a.bodyBytes}-byte body`;
  if (normalize(a.text) === normalize(b.text)) {
    console.log(`responses: identical over HTTP/2 but for date (${summary})`);
    return;
  }
  const sorted = (text) => {
    const [head, body] = normalize(text).split('\n\n');
    return `${head.split('\n').sort().join('\n')}\n\n${body}`;
  };
  if (sorted(a.text) === sorted(b.text)) {
    const names = (r) => r.text.split('\n\n')[0].replace(/: .*$/gm, '').split('\n').join(', ');
    console.log(
      `responses: the same fields and body over HTTP/2 but for date (${summary}); ` +
        `field order differs: ${baseline.label} ${names(a)}; ${rxgi.label} ${names(b)}`,
    );
    return;
  }
  warn('the two servers answer with different HTTP/2 responses:');
  console.log(indent(`${baseline.label}:\n${indent(a.text)}\n${rxgi.label}:\n${indent(b.text)}`));
}

/** One GET over h2c with prior knowledge; the response as text (headers as received, body). */
function h2Get(server, target) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${server.port}`);
    const failed = (error) => {
      clearTimeout(timer);
      session.destroy();
      reject(
        new Error(
          `${server.label} (:${server.port}) does not answer HTTP/2 with prior knowledge (h2c): ` +
            `${error?.message ?? error}`,
        ),
      );
    };
    const timer = setTimeout(() => failed('no response within 5 s'), 5_000);
    session.on('error', failed);
    session.on('goaway', (code) => failed(`GOAWAY (error code ${code})`));
    const stream = session.request({ ':path': target });
    stream.on('error', failed);
    let head = null;
    const body = [];
    // node keeps the received order in the headers object (repeated names are joined).
    stream.on('response', (headers) => {
      head = headers;
    });
    stream.on('data', (chunk) => body.push(chunk));
    stream.on('end', () => {
      clearTimeout(timer);
      session.close();
      if (head === null) {
        failed('the stream ended without a response');
        return;
      }
      const bytes = Buffer.concat(body);
      const lines = Object.entries(head).map(([name, value]) => `${name}: ${value}`);
      resolve({
        status: head[':status'],
        headerCount: lines.length - 1,
        bodyBytes: bytes.length,
        text: `${lines.join('\n')}\n\n${bytes.toString('latin1')}`,
      });
    });
    stream.end();
  });
}

/**
 * WebSocket echo: the handshake answers must carry the same status line and header fields
 * (names case-insensitive), and the echo of a 32-byte text message the same frame bytes.
 */
export async function compareWebSocketEcho(baseline, rxgi, scenario) {
  const [a, b] = await Promise.all([
    wsExchange(baseline.port, scenario.path),
    wsExchange(rxgi.port, scenario.path),
  ]);
  const problems = headProblems(a.head, b.head, []);
  if (!a.echo.equals(b.echo)) {
    problems.push(`echo frame: ${a.echo.toString('hex')} vs ${b.echo.toString('hex')}`);
  } else if (!a.echo.equals(Buffer.concat([Buffer.from([0x81, WS_TEXT.length]), WS_TEXT]))) {
    problems.push(`echo frame is not the message: ${a.echo.toString('hex')}`);
  }
  if (problems.length === 0) {
    console.log(
      `responses: same handshake answer (${a.head.status}; ${[...a.head.headers.keys()].join(', ')}) ` +
        `and the same ${a.echo.length}-byte echo frame`,
    );
    return;
  }
  warn(`the two servers answer differently: ${problems.join('; ')}`);
  const show = (r) => `${r.head.text}\n${r.echo.toString('hex')}`;
  console.log(indent(`${baseline.label}:\n${indent(show(a))}\n${rxgi.label}:\n${indent(show(b))}`));
}

const WS_TEXT = Buffer.from('rxgi bench: response check 32 B');
const WS_MASK = Buffer.from([0x12, 0x34, 0x56, 0x78]);

/**
 * A WebSocket handshake on a raw socket, then one masked text frame (RFC 6455 §5.2) of WS_TEXT;
 * resolves with the parsed handshake answer and the bytes that came back after it.
 */
function wsExchange(port, target) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let head = null;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no WebSocket echo from :${port} within 5 s`));
    }, 5_000);
    socket.on('error', reject);
    socket.write(
      `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
        'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
        'Sec-WebSocket-Version: 13\r\n\r\n',
    );
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      if (head === null) {
        const end = data.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = parseHttp1Response(data.subarray(0, end + 4).toString('latin1'));
        data = data.subarray(end + 4);
        const masked = Buffer.from(WS_TEXT.map((byte, i) => byte ^ WS_MASK[i % 4]));
        socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | WS_TEXT.length]), WS_MASK, masked]));
      }
      if (data.length < 2 + WS_TEXT.length) return;
      clearTimeout(timer);
      socket.destroy();
      resolve({ head, echo: data });
    });
  });
}

function indent(text) {
  return text
    .split(/\r?\n/)
    .map((line) => `    ${line}`)
    .join('\n');
}
