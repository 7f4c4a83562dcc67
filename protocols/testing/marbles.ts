import { TestScheduler } from 'rxjs/testing';
import type { App, ConnectionInfo } from '../../core/app.js';
import type { InboundEvent, RxgiEvent } from '../../core/events.js';

/** A marble test of one app or middleware (see {@link expectMarbles}). */
export interface MarbleSpec {
  /**
   * The inbound events as a hot marble diagram: one frame per character, `-` for a frame with
   * nothing, `(ab)` for events in one frame, `|` for the end of the connection. `^` may mark
   * the frame the app starts at (frame 0 otherwise).
   */
  inbound: string;
  /** The outbound events the app must send, as a marble diagram on the same time line. */
  outbound: string;
  /** The event each letter stands for, in either diagram (build them with `ev`). */
  values: Record<string, RxgiEvent>;
  /** The app's output is unsubscribed here (`^---!`): the test ends at that frame. */
  unsubscribe?: string;
  /** What the app is told of its connection; a memory connection's info by default. */
  connection?: Partial<ConnectionInfo>;
}

/** The `code` of the error `expectMarbles` throws when the output differs. */
export const MARBLE_MISMATCH = 'RXGI_ERR_MARBLE_MISMATCH';

interface Note {
  frame: number;
  notification: { kind: 'N' | 'E' | 'C'; value?: unknown; error?: unknown };
}

/**
 * Run `app` (or `middleware(app)`) on virtual time and check its output against a marble
 * diagram. Timers, `delay`s and intervals inside the app run on the virtual clock, so a test of
 * a 30 s timeout takes no time. Works under any test runner: it throws an `Error` whose `code`
 * is `RXGI_ERR_MARBLE_MISMATCH` and whose message names the stream, the event and the field
 * that differ. Handlers that await a promise (`await req.text()`) leave virtual time; test
 * them with `connect`.
 *
 * @example
 * expectMarbles(addHeader(app), {
 *   inbound: 'r',
 *   outbound: 'a',
 *   values: { r: ev.get(1), a: ev.response(1, 200, ['x-served-by', 'rxgi'], 'hi') },
 * });
 */
export function expectMarbles(app: App, spec: MarbleSpec): void {
  const scheduler = new TestScheduler((actual, expected) => {
    const report = compare(actual as Note[], expected as Note[], spec.values);
    if (report !== null) {
      throw Object.assign(new Error(report), { code: MARBLE_MISMATCH });
    }
  });
  const info: ConnectionInfo = {
    id: 'marbles',
    address: 'marbles',
    protocol: 'memory',
    secure: false,
    client: null,
    server: null,
    ...spec.connection,
  };
  scheduler.run(({ hot, expectObservable }) => {
    const events = hot<InboundEvent>(spec.inbound, spec.values as Record<string, InboundEvent>);
    expectObservable(app(events, info), spec.unsubscribe).toBe(spec.outbound, spec.values);
  });
}

/** A readable report of how `actual` differs from `expected`, or null when they agree. */
function compare(
  actual: Note[],
  expected: Note[],
  values: Record<string, RxgiEvent>,
): string | null {
  const byStream = (notes: Note[]) => {
    const groups = new Map<string, Note[]>();
    for (const note of notes) {
      const value = note.notification.value as { stream?: unknown } | undefined;
      const key =
        note.notification.kind === 'N' && typeof value?.stream === 'number'
          ? `stream ${value.stream}`
          : 'the output';
      let group = groups.get(key);
      if (group === undefined) {
        group = [];
        groups.set(key, group);
      }
      group.push(note);
    }
    return groups;
  };
  const got = byStream(actual);
  const want = byStream(expected);
  const lines: string[] = [];
  for (const key of new Set([...want.keys(), ...got.keys()])) {
    const a = got.get(key) ?? [];
    const e = want.get(key) ?? [];
    for (let i = 0; i < Math.max(a.length, e.length); i++) {
      const diff = noteDiff(a[i], e[i]);
      if (diff === null) continue;
      lines.push(`${key}, event ${i + 1}:`, ...diff.map((line) => `  ${line}`));
      break;
    }
  }
  if (lines.length === 0) return null;
  const names = new Map<unknown, string>();
  return [
    "the app's output differs from the expected marbles",
    `  expected: ${timeline(expected, values, names)}`,
    `  actual:   ${timeline(actual, values, names)}`,
    ...lines,
  ].join('\n');
}

function noteDiff(actual: Note | undefined, expected: Note | undefined): string[] | null {
  if (actual === undefined) return [`expected ${describe(expected!)}`, 'actual   nothing'];
  if (expected === undefined) return ['expected nothing', `actual   ${describe(actual)}`];
  const fields: string[] = [];
  if (actual.frame !== expected.frame)
    fields.push(`frame: expected ${expected.frame}, actual ${actual.frame}`);
  const a = actual.notification;
  const e = expected.notification;
  if (a.kind !== e.kind)
    fields.push(`kind: expected ${kindName(e.kind)}, actual ${kindName(a.kind)}`);
  else if (a.kind === 'N') fieldDiffs(normal(a.value), normal(e.value), '', fields);
  else if (a.kind === 'E' && !same(a.error, e.error))
    fields.push(`error: expected ${show(e.error)}, actual ${show(a.error)}`);
  if (fields.length === 0) return null;
  return [`expected ${describe(expected)}`, `actual   ${describe(actual)}`, ...fields];
}

/** An absent `trailers` flag of a response is `false` (SPEC.md §3.3). */
function normal(value: unknown): unknown {
  if (isRecord(value) && value.type === 'response' && value.trailers === undefined) {
    return { ...value, trailers: false };
  }
  return value;
}

function fieldDiffs(actual: unknown, expected: unknown, path: string, out: string[]): void {
  if (same(actual, expected)) return;
  if (isRecord(actual) && isRecord(expected) && !isBytes(actual) && !isBytes(expected)) {
    for (const key of new Set([...Object.keys(expected), ...Object.keys(actual)])) {
      fieldDiffs(actual[key], expected[key], path === '' ? key : `${path}.${key}`, out);
    }
    return;
  }
  out.push(`field ${path || '(value)'}: expected ${show(expected)}, actual ${show(actual)}`);
}

/** Deep equality where a string chunk equals its UTF-8 bytes and undefined fields are absent. */
export function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if ((isBytes(a) || typeof a === 'string') && (isBytes(b) || typeof b === 'string')) {
    if (typeof a === 'string' && typeof b === 'string') return false;
    const x = bytes(a as Uint8Array | string);
    const y = bytes(b as Uint8Array | string);
    return x.byteLength === y.byteLength && x.every((byte, i) => byte === y[i]);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) &&
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((x, i) => same(x, b[i]))
    );
  }
  if (isRecord(a) && isRecord(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const key of keys) if (!same(a[key], b[key])) return false;
    return true;
  }
  if (a instanceof Error && b instanceof Error) return a.message === b.message;
  return false;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function bytes(chunk: Uint8Array | string): Uint8Array {
  return typeof chunk === 'string' ? encoder.encode(chunk) : chunk;
}

function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function kindName(kind: string): string {
  return kind === 'N' ? 'an event' : kind === 'E' ? 'an error' : 'completion';
}

/** A short, readable rendering of a value: bytes as their text where they are UTF-8. */
function show(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (isBytes(value)) {
    try {
      const text = decoder.decode(value);
      return text.length <= 20
        ? `bytes ${JSON.stringify(text)}`
        : `bytes ${JSON.stringify(text.slice(0, 20)).slice(0, -1)}…" (${value.byteLength} bytes)`;
    } catch {
      return `bytes [${[...value.subarray(0, 16)].join(' ')}${value.byteLength > 16 ? ' …' : ''}]`;
    }
  }
  if (value instanceof Error) return `Error(${JSON.stringify(value.message)})`;
  const text = JSON.stringify(value, (_key, v) =>
    v instanceof Uint8Array ? `<${v.byteLength} bytes>` : v,
  );
  return text.length > 120 ? `${text.slice(0, 117)}…` : text;
}

function describe(note: Note): string {
  const { kind, value, error } = note.notification;
  const at = `at frame ${note.frame}`;
  if (kind === 'C') return `completion ${at}`;
  if (kind === 'E') return `error ${show(error)} ${at}`;
  if (!isRecord(value)) return `${show(value)} ${at}`;
  const { type, stream: _stream, ...fields } = value;
  const parts = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}: ${show(v)}`);
  return `${String(type)} {${parts.join(', ')}} ${at}`;
}

/** The notes as `frame: letters` pairs, letters from `values` (`?` for an event not there). */
function timeline(
  notes: Note[],
  values: Record<string, RxgiEvent>,
  names: Map<unknown, string>,
): string {
  if (notes.length === 0) return '(nothing)';
  const frames = new Map<number, string[]>();
  for (const note of notes) {
    const { kind, value } = note.notification;
    let name = kind === 'C' ? '|' : kind === 'E' ? '#' : names.get(value);
    if (name === undefined) {
      name = Object.entries(values).find(([, v]) => same(normal(v), normal(value)))?.[0] ?? '?';
      names.set(value, name);
    }
    let frame = frames.get(note.frame);
    if (frame === undefined) {
      frame = [];
      frames.set(note.frame, frame);
    }
    frame.push(name);
  }
  return [...frames]
    .map(
      ([frame, letters]) => `${frame}:${letters.length > 1 ? `(${letters.join('')})` : letters[0]}`,
    )
    .join(' ');
}
