/** HTTP/1.x request heads: node's request, or a head llhttp read, becomes an rxgi `request` event in one pass. */
import type { ConnectionInfo } from '../../core/app.js';
import type { Capabilities, HeaderList, RequestEvent } from '../../core/events.js';
import { hasToken } from '../../core/headers.js';
import { NO_PROTOCOLS } from '../../core/stream-state.js';

// Five capability sets cover every HTTP/1.x stream; sharing them saves an object per request.
const CAPS: Record<string, Capabilities> = {
  '1.1': { push: false, trailers: false, earlyHints: true, websocket: true },
  '1.1t': { push: false, trailers: true, earlyHints: true, websocket: true },
  '1.1-nows': { push: false, trailers: false, earlyHints: true, websocket: false },
  '1.1t-nows': { push: false, trailers: true, earlyHints: true, websocket: false },
  '1.0': { push: false, trailers: false, earlyHints: false, websocket: false },
};

/**
 * A request head as node:http's request carries it (an `IncomingMessage` is one), or as the
 * driver on node:net keeps it: the method, the target and the fields as they came.
 */
export interface RawHead {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  /** Names and values in turn, as received. */
  readonly rawHeaders: string[];
  /** `1.1`, `1.0`... */
  readonly httpVersion: string;
  readonly httpVersionMajor: number;
}

export interface ParsedHead {
  event: RequestEvent;
  /** Declared body length, or 0. */
  length: number;
  key: string | undefined;
  version: string | undefined;
  /** The `Expect` field's value, if any. */
  expect: string | undefined;
  /** Why the head is refused without calling the app (SPEC.md §8.2), or null. */
  refusal: HeadRefusal | null;
}

/** The limits on a request head (docs/server.md). */
export interface HeadLimits {
  /** Largest head in bytes, counted as {@link headSize} does. */
  maxHeaderSize: number;
  /** Most header fields. */
  maxHeaderFields: number;
}

/** No limits of the driver's own: where a host's node:http server reads heads (the adapters). */
export const HOST_HEAD_LIMITS: HeadLimits = Object.freeze({
  maxHeaderSize: Number.POSITIVE_INFINITY,
  maxHeaderFields: Number.POSITIVE_INFINITY,
});

/** A request head the driver answers itself: the status and the reason, as the body says. */
export interface HeadRefusal {
  status: number;
  reason: string;
}

/**
 * RFC 9112 §3.2 / RFC 3986 §3.2.2: a Host value is a host (a registered name, an IPv4 address
 * or a bracketed IP literal) with an optional port, or empty.
 */
const HOST = /^(?:\[[\w.:]+\]|[\w.~!$&'()*+,;=%-]*)(?::\d*)?$/;
/**
 * The last Host value found valid. A server's requests nearly all name the same host, and the
 * same value is valid again: one string comparison instead of the pattern.
 */
let validHost = '';
/** The absolute form of a request target (RFC 9112 §3.2.2): scheme, authority, the rest. */
const ABSOLUTE = /^https?:\/\/([^/?#]*)([^#]*)/i;
const SLASH = 47;

/**
 * What RFC 9112 refuses in a head its parser accepted, or null: no Host field on HTTP/1.1,
 * more than one or an invalid one (§3.2, 400), a transfer coding that does not end with
 * chunked (§6.3, 400: the body's length cannot be known), a major version other than 1 (505).
 * The later rule wins. (node:http refuses the first and the fourth itself.)
 */
function headProblem(
  req: RawHead,
  authority: string,
  hosts: number,
  absolute: boolean,
  coding: string | undefined,
): HeadRefusal | null {
  if (req.httpVersionMajor !== 1) {
    return { status: 505, reason: `HTTP/${req.httpVersion} is not served on this connection` };
  }
  if (coding !== undefined && !endsChunked(coding)) {
    return { status: 400, reason: 'the request body has a transfer coding other than chunked' };
  }
  if (hosts > 1) return { status: 400, reason: 'the request has more than one Host field' };
  if (hosts === 0 && req.httpVersion !== '1.0') {
    return { status: 400, reason: 'the request has no Host field' };
  }
  if (authority !== validHost) {
    if (HOST.test(authority)) validHost = authority;
    else {
      const where = absolute ? "the request target's authority" : 'the Host field';
      return { status: 400, reason: `${where} is not valid` };
    }
  }
  return null;
}

/** True when the last coding of a `Transfer-Encoding` value is chunked (RFC 9112 §6.3). */
function endsChunked(coding: string): boolean {
  if (coding === 'chunked') return true;
  const last = coding.slice(coding.lastIndexOf(',') + 1).trim();
  return last.toLowerCase() === 'chunked';
}

/**
 * 431 for a head over the limits, or null. node:http counts only the target, names and values
 * against its `maxHeaderSize`, and past its `maxHeadersCount` drops fields silently: the driver
 * counts the whole head, and sets node's count one above the limit so that a head with too many
 * fields always shows more than the limit here (spec/http1.md).
 */
function overLimits(req: RawHead, fields: number, size: number, limits: HeadLimits) {
  if (fields > limits.maxHeaderFields) {
    return {
      status: 431,
      reason: `the request has more than ${limits.maxHeaderFields} header fields`,
    };
  }
  // `METHOD SP target SP HTTP/1.x CRLF`, the fields, and the empty line.
  const head = (req.method ?? '').length + (req.url ?? '').length + 12 + size + 2;
  if (head > limits.maxHeaderSize) {
    return { status: 431, reason: `the request head is larger than ${limits.maxHeaderSize} bytes` };
  }
  return null;
}

/**
 * Build the request event from node's request in one pass over its raw headers, and pick out
 * what the driver needs (declared length, WebSocket key and version) on the way.
 */
export function parseHead(
  req: RawHead,
  info: ConnectionInfo,
  websocket: boolean,
  id: number,
  limits: HeadLimits,
): ParsedHead {
  const raw = req.rawHeaders;
  const headers: HeaderList = new Array(raw.length);
  let authority = '';
  let hosts = 0;
  let length = 0;
  let chunked = false;
  let te = false;
  let key: string | undefined;
  let version: string | undefined;
  let expect: string | undefined;
  let coding: string | undefined;
  // Each field line is `name: value` and CRLF on the wire (RFC 9112 §5).
  let size = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    const value = raw[i + 1];
    size += name.length + value.length + 4;
    headers[i] = name;
    headers[i + 1] = value;
    switch (name) {
      case 'host':
        authority = value;
        hosts++;
        break;
      case 'content-length':
        length = Number(value);
        break;
      case 'transfer-encoding':
        chunked = true;
        coding = coding === undefined ? value : `${coding}, ${value}`;
        break;
      case 'te':
        te = hasToken(value, 'trailers');
        break;
      case 'sec-websocket-key':
        key = value;
        break;
      case 'sec-websocket-version':
        version = value;
        break;
      case 'expect':
        expect = value;
        break;
    }
  }
  let target = req.url ?? '/';
  let refusal: HeadRefusal | null = null;
  if (target.charCodeAt(0) !== SLASH && target !== '*') {
    // A server must accept the absolute form, and take the authority from it (RFC 9112 §3.2.2).
    const absolute = ABSOLUTE.exec(target);
    if (absolute === null) refusal = { status: 400, reason: 'the request target is not valid' };
    else {
      authority = absolute[1];
      const rest = absolute[2];
      target = rest.charCodeAt(0) === SLASH ? rest : `/${rest}`;
    }
  }
  refusal =
    overLimits(req, raw.length / 2, size, limits) ??
    headProblem(req, authority, hosts, target !== req.url, coding) ??
    refusal;
  const mark = target.indexOf('?');
  const http = req.httpVersion === '1.0' ? '1.0' : '1.1';
  const ws = websocket ? '' : '-nows';
  const caps = http === '1.0' ? CAPS['1.0'] : CAPS[(te ? '1.1t' : '1.1') + ws];
  const event: RequestEvent = {
    type: 'request',
    stream: id,
    method: req.method ?? 'GET',
    target,
    path: mark < 0 ? target : target.slice(0, mark),
    query: mark < 0 ? '' : target.slice(mark + 1),
    headers,
    http,
    scheme: info.secure ? 'https' : 'http',
    authority,
    client: info.client,
    server: info.server,
    caps,
    websocket: false,
    subprotocols: NO_PROTOCOLS,
    end: !chunked && !(length > 0),
  };
  return { event, length: chunked ? 0 : length, key, version, expect, refusal };
}
