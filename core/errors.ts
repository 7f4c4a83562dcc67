/**
 * The rxgi error family: one class, a stable `code` per failure, and what the peer sees.
 * SPEC.md §8 lists every code with its status or close code.
 */

const kRxgiError = Symbol.for('rxgi.error');

/** Stable error codes, each mapped to what the peer sees in SPEC.md §8. */
export const ERR = {
  /** The app threw or its output errored (500 before the head, abort after it, close 1011). */
  APP_ERROR: 'RXGI_ERR_APP_ERROR',
  /** The app finished a stream without a response (500). */
  NO_RESPONSE: 'RXGI_ERR_NO_RESPONSE',
  /** The app sent an event the stream's state does not allow (500 or abort). */
  INVALID_EVENT: 'RXGI_ERR_INVALID_EVENT',
  /** The request could not be parsed (400). */
  BAD_REQUEST: 'RXGI_ERR_BAD_REQUEST',
  /** The request head is larger than the limit (431). */
  HEADERS_TOO_LARGE: 'RXGI_ERR_HEADERS_TOO_LARGE',
  /** The request body is larger than the limit (413). */
  BODY_TOO_LARGE: 'RXGI_ERR_BODY_TOO_LARGE',
  /** The body is not valid for how it was read (400), e.g. malformed JSON. */
  BAD_BODY: 'RXGI_ERR_BAD_BODY',
  /** A WebSocket message is larger than the limit (close 1009). */
  MESSAGE_TOO_LARGE: 'RXGI_ERR_MESSAGE_TOO_LARGE',
  /** The app outran the stream's write buffer limit (abort, close 1008). */
  WRITE_BUFFER_FULL: 'RXGI_ERR_WRITE_BUFFER_FULL',
  /** A group member with `slow: 'close'` fell more than `maxDropped` messages behind (1008). */
  SLOW_CONSUMER: 'RXGI_ERR_SLOW_CONSUMER',
  /** The stream was closed by the peer while the app was still using it. */
  STREAM_CLOSED: 'RXGI_ERR_STREAM_CLOSED',
  /** The client was too slow: a head, a body or reading our output (408, RST_STREAM, close 1008). */
  CLIENT_TIMEOUT: 'RXGI_ERR_CLIENT_TIMEOUT',
  /** A body was read twice. */
  BODY_CONSUMED: 'RXGI_ERR_BODY_CONSUMED',
  /** An event could not be encoded or decoded (bus, codec). */
  BAD_ENCODING: 'RXGI_ERR_BAD_ENCODING',
  /** A driver failed while serving a connection (a bug): that connection alone is torn down. */
  INTERNAL: 'RXGI_ERR_INTERNAL',
} as const;

export type ErrorCode = (typeof ERR)[keyof typeof ERR];

/** An rxgi error: `code` is stable, `status` the HTTP status the client gets, where one applies. */
export class RxgiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  override name = 'RxgiError';

  constructor(code: ErrorCode, message: string, status = 500, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.status = status;
  }

  /** Brand check that works across duplicate copies of the package. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && kRxgiError in value;
  }

  get [kRxgiError](): true {
    return true;
  }
}

/** The HTTP status an error maps to: its own for an RxgiError, 500 for anything else. */
export function statusOf(error: unknown): number {
  return error instanceof RxgiError ? error.status : 500;
}
