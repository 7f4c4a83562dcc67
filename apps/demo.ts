/**
 * The rxgi demo, served by `npm start` (http://127.0.0.1:8000/). It shows:
 *
 * - routing with the `handle` helper: each request is answered by a plain function;
 * - a WebSocket chat room at `/chat` built on actors (spec/actors.md): each session joins the
 *   group `chat` and publishes to it, so the room spans every process on the bus (run it with
 *   `--workers 4`, or on several machines with `--bus redis://...`);
 * - a streamed response at `/ticker`: Server-Sent Events whose body is an Observable, which
 *   stops when the client goes away (the helper unsubscribes) or when the server shuts down;
 * - a page at `/` (inline HTML, CSS and JS) that uses both, `/health` as JSON, and 404s.
 */
import {
  type Answer,
  type App,
  type HttpRequest,
  handle,
  html,
  json,
  type Mail,
  status,
  upgrade,
  type Value,
} from 'rxgi';
import {
  defer,
  EMPTY,
  filter,
  finalize,
  fromEvent,
  ignoreElements,
  map,
  merge,
  mergeMap,
  type Observable,
  of,
  takeUntil,
  tap,
  timer,
} from 'rxjs';

// ---------------------------------------------------------------------------------------------
// Chat: one room, the group `chat`, across every process on the bus

/** A chat message as the room carries it: plain data, so it crosses any bus. */
interface ChatMessage {
  /** Unique per message: the sender's address and a count. */
  id: string;
  name: string;
  text: string;
  /** When the server received it, as an ISO 8601 string. */
  at: string;
}

/** What sessions say to each other in the room, besides chat messages. */
type Presence = { kind: 'hello' } | { kind: 'here'; history?: ChatMessage[] } | { kind: 'bye' };

const ROOM = 'chat';
/** How many messages a newly joined client gets first. */
const HISTORY = 20;
const MAX_TEXT = 500;
const MAX_NAME = 40;

/**
 * The last messages this process has seen, for newcomers. Every local member receives each
 * message, so it is recorded once, by id.
 */
const history: ChatMessage[] = [];

/**
 * This process's chat sessions, oldest first. A process that had no member in the room heard
 * none of its messages, so a newcomer there would start with an empty history: the oldest
 * session of every other process answers a newcomer's hello with its process's history (one
 * answer per process, at most HISTORY messages each).
 */
const sessions = new Set<string>();

function remember(message: ChatMessage): void {
  if (history.some((seen) => seen.id === message.id)) return;
  history.push(message);
  if (history.length > HISTORY) history.shift();
}

/**
 * One chat session. It joins the room with a farewell (sent for it when the socket closes, even
 * if the client vanished), says hello, and keeps a roster of the members it has heard of: a
 * hello is answered `here` directly to its sender, a farewell removes one. What the client says
 * is published to the room; what the room says is sent to the client, its own messages included.
 */
function chat(req: HttpRequest, messages: Observable<Uint8Array | string>): Observable<string> {
  return defer(() => {
    const roster = new Set<string>([req.address]);
    // Ids of the messages this session sent its client: histories from several processes overlap.
    const shown = new Set<string>(history.map((message) => message.id));
    let said = 0;
    sessions.add(req.address);
    req.join(ROOM, { kind: 'bye' } satisfies Presence);
    req.publish(ROOM, { kind: 'hello' } satisfies Presence);
    // `you`: the session's address, which starts the id of every message it says, so that a
    // page tells its own messages from those of another tab with the same name.
    const online = () => ({ system: `${roster.size} online`, you: req.address });

    const outgoing = messages.pipe(
      map(parseMessage),
      filter((message) => message !== null),
      tap((message) => {
        const id = `${req.address}#${++said}`;
        req.publish(ROOM, { id, ...message, at: new Date().toISOString() } satisfies ChatMessage);
      }),
      ignoreElements(),
    );
    const incoming = req.inbox.pipe(
      mergeMap((mail) => {
        const update = heard(req, roster, mail);
        if (update === 'roster') return of(online());
        if (update === null) return EMPTY;
        const fresh = (Array.isArray(update) ? update : [update]).filter((m) => !shown.has(m.id));
        for (const message of fresh) {
          shown.add(message.id);
          remember(message);
        }
        return of(...fresh);
      }),
    );
    return merge(of(...history, online()), incoming, outgoing).pipe(
      map((event) => JSON.stringify(event)),
      finalize(() => sessions.delete(req.address)),
    );
  });
}

/** What one piece of mail means for a session: a chat message, a roster change, or nothing. */
function heard(
  req: HttpRequest,
  roster: Set<string>,
  mail: Mail,
): ChatMessage | ChatMessage[] | 'roster' | null {
  if (mail.type !== 'message') return null;
  const data = mail.data as Record<string, Value> | null;
  if (typeof data !== 'object' || data === null) return null;
  // Its own messages come back to a member: chat is shown, its own hello is not news.
  if (typeof data.id === 'string') return data as unknown as ChatMessage;
  if (mail.from === req.address) return null;
  if (data.kind === 'hello') {
    const past = historyFor(req, mail.from);
    // Chat messages are plain data; the interface only lacks Value's index signature.
    const here: Value = past
      ? { kind: 'here', history: past as unknown as Value[] }
      : { kind: 'here' };
    req.send(mail.from, here);
    roster.add(mail.from);
    return 'roster';
  }
  if (data.kind === 'here' && Array.isArray(data.history) && data.history.length > 0) {
    roster.add(mail.from);
    return (data.history as unknown as ChatMessage[]).filter(isChatMessage);
  }
  if (data.kind === 'here') roster.add(mail.from);
  else if (data.kind === 'bye') roster.delete(mail.from);
  else return null;
  return 'roster';
}

/**
 * The history a session sends a newcomer with its `here`: its process's, from the process's
 * oldest session only, and only to a newcomer in another process (one in this process has it).
 */
function historyFor(req: HttpRequest, newcomer: string): ChatMessage[] | undefined {
  const oldest = sessions.values().next().value;
  const process = (address: string) => address.slice(0, address.indexOf('/'));
  if (oldest !== req.address || process(newcomer) === process(req.address)) return undefined;
  return history.length > 0 ? history : undefined;
}

function isChatMessage(value: unknown): value is ChatMessage {
  const m = value as Record<string, unknown> | null;
  return (
    typeof m === 'object' &&
    m !== null &&
    typeof m.id === 'string' &&
    typeof m.name === 'string' &&
    typeof m.text === 'string' &&
    typeof m.at === 'string'
  );
}

/** The fields of a client's `{name, text}` JSON, or null when it is not acceptable. */
function parseMessage(data: Uint8Array | string): { name: string; text: string } | null {
  // Text frames only; anything far longer than a valid message is dropped without parsing.
  if (typeof data !== 'string' || data.length > 8 * (MAX_TEXT + MAX_NAME)) return null;
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { name, text } = value as Record<string, unknown>;
  if (typeof name !== 'string' || typeof text !== 'string') return null;
  if (name.length > MAX_NAME || text.length > MAX_TEXT || text.trim() === '') return null;
  return { name: name.trim() || 'anonymous', text };
}

// ---------------------------------------------------------------------------------------------
// Ticker: a response body that never ends on its own

/**
 * Server-Sent Events: the server time and a counter, once a second, until `stop` emits. The body
 * is an Observable of chunks; when the client disconnects, `handle` unsubscribes from it, which
 * clears the timer.
 */
function ticker(stop: Observable<unknown>): Answer {
  const events = timer(0, 1000).pipe(
    map((count) => {
      const data = JSON.stringify({ count, time: new Date().toISOString() });
      return `id: ${count}\ndata: ${data}\n\n`;
    }),
    takeUntil(stop),
  );
  return {
    headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
    body: events,
  };
}

// ---------------------------------------------------------------------------------------------
// Routes

function route(req: HttpRequest): Answer {
  // Every route only reads; a WebSocket handshake arrives as a GET on every protocol.
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return {
      ...status(405),
      headers: ['content-type', 'text/plain; charset=utf-8', 'allow', 'GET, HEAD'],
    };
  }
  switch (req.path) {
    case '/':
      return html(PAGE);
    case '/chat':
      // A plain GET (no WebSocket handshake) is answered 426 Upgrade Required by `handle`.
      return upgrade((messages) => chat(req, messages));
    case '/ticker':
      // `req.shutdown` aborts when the server stops: the endless stream ends then, cleanly.
      return ticker(fromEvent(req.shutdown, 'abort'));
    case '/health':
      return json({ ok: true });
    default:
      return status(404);
  }
}

/** The app: one function per request, run by `handle` on every connection. */
const app: App = handle(route);

export default app;

// ---------------------------------------------------------------------------------------------
// The page: no external assets, no build step

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rxgi demo</title>
<link rel="icon" href="data:,">
<style>
  :root {
    --bg: #f4f2fa; --card: #ffffff; --ink: #1d1a2b; --muted: #6d6882; --line: #e4e0f0;
    --accent: #b7178c; --accent-2: #6f3bd8; --mine: #f6e7f2; --ok: #1f9d63; --warn: #c77800;
    color-scheme: light dark;
  }
  @media (prefers-color-scheme: dark) {
    :root {
      --bg: #14121d; --card: #1f1c2c; --ink: #ece9f6; --muted: #9b96b2; --line: #312d43;
      --mine: #3a2140; --accent: #e04bb5; --accent-2: #9a72ff;
    }
  }
  * { box-sizing: border-box; }
  body {
    margin: 0; min-height: 100vh; color: var(--ink); background: var(--bg);
    font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  }
  header { max-width: 980px; margin: 0 auto; padding: 28px 20px 8px; }
  h1 { margin: 0; font-size: 28px; letter-spacing: -0.02em; }
  h1 span {
    background: linear-gradient(90deg, var(--accent), var(--accent-2));
    -webkit-background-clip: text; background-clip: text; color: transparent;
  }
  header p { margin: 4px 0 0; color: var(--muted); }
  main {
    max-width: 980px; margin: 0 auto; padding: 16px 20px 24px;
    display: grid; grid-template-columns: 1.6fr 1fr; gap: 18px;
  }
  @media (max-width: 760px) { main { grid-template-columns: 1fr; } }
  .card {
    background: var(--card); border: 1px solid var(--line); border-radius: 14px;
    box-shadow: 0 1px 2px rgb(0 0 0 / 4%), 0 8px 24px rgb(40 20 80 / 6%);
    display: flex; flex-direction: column; min-height: 0; overflow: hidden;
  }
  .card-head {
    display: flex; align-items: center; justify-content: space-between;
    padding: 14px 16px; border-bottom: 1px solid var(--line);
  }
  h2 { margin: 0; font-size: 16px; }
  .badge {
    display: inline-flex; align-items: center; gap: 6px; font-size: 12px; color: var(--muted);
    border: 1px solid var(--line); border-radius: 999px; padding: 2px 10px;
  }
  .badge::before {
    content: ""; width: 7px; height: 7px; border-radius: 50%; background: var(--warn);
  }
  .badge.on::before { background: var(--ok); }
  .hint { margin: 0; padding: 10px 16px; font-size: 12px; color: var(--muted); }
  code {
    font: 12px ui-monospace, SFMono-Regular, Menlo, monospace;
    background: var(--bg); border-radius: 4px; padding: 1px 5px;
  }
  #log {
    list-style: none; margin: 0; padding: 12px 16px; height: 360px; overflow-y: auto;
    display: flex; flex-direction: column; gap: 8px;
  }
  #log li { max-width: 85%; align-self: flex-start; }
  #log li.mine { align-self: flex-end; text-align: right; }
  #log .meta { font-size: 12px; color: var(--muted); }
  #log .meta b { color: var(--ink); font-weight: 600; margin-right: 6px; }
  #log .text {
    display: inline-block; margin-top: 2px; padding: 7px 11px; border-radius: 12px;
    background: var(--bg); white-space: pre-wrap; overflow-wrap: anywhere; text-align: left;
  }
  #log li.mine .text { background: var(--mine); }
  #log .empty { align-self: center; color: var(--muted); font-size: 13px; margin: auto; }
  form { display: flex; gap: 8px; padding: 12px 16px; border-top: 1px solid var(--line); }
  input {
    font: inherit; color: inherit; background: var(--bg); border: 1px solid var(--line);
    border-radius: 9px; padding: 8px 11px; min-width: 0;
  }
  input:focus { outline: 2px solid var(--accent-2); outline-offset: -1px; }
  #name { width: 110px; }
  #text { flex: 1; }
  button {
    font: inherit; font-weight: 600; color: #fff; border: 0; border-radius: 9px; padding: 8px 16px;
    background: linear-gradient(90deg, var(--accent), var(--accent-2)); cursor: pointer;
  }
  button:disabled { opacity: 0.5; cursor: default; }
  .clock-face { flex: 1; display: grid; place-content: center; text-align: center; padding: 28px; }
  #clock {
    font: 600 44px/1.1 ui-monospace, SFMono-Regular, Menlo, monospace; letter-spacing: -0.02em;
    font-variant-numeric: tabular-nums;
  }
  #count-line { margin-top: 8px; color: var(--muted); }
  #count { font-variant-numeric: tabular-nums; color: var(--ink); font-weight: 600; }
  .pulse {
    width: 64px; height: 4px; margin: 18px auto 0; border-radius: 2px; background: var(--line);
    overflow: hidden;
  }
  .pulse i {
    display: block; height: 100%; width: 0; border-radius: 2px;
    background: linear-gradient(90deg, var(--accent), var(--accent-2));
  }
  .pulse i.run { animation: fill 1s linear; }
  @keyframes fill { from { width: 0; } to { width: 100%; } }
  footer {
    max-width: 980px; margin: 0 auto; padding: 0 20px 28px; font-size: 13px; color: var(--muted);
  }
  a { color: var(--accent-2); }
</style>
</head>
<body>
<header>
  <h1>rxgi <span>demo</span></h1>
  <p>An app is a function from an Observable of protocol events to an Observable of events.
  This one chats over a WebSocket and streams a clock.</p>
</header>
<main>
  <section class="card" aria-label="Chat">
    <div class="card-head"><h2>Chat</h2><span id="online" class="badge">connecting…</span></div>
    <ol id="log" aria-live="polite"><li class="empty">No messages yet. Say hi!</li></ol>
    <form id="form" autocomplete="off">
      <input id="name" maxlength="40" placeholder="Name" aria-label="Name">
      <input id="text" maxlength="500" placeholder="Message" aria-label="Message" required>
      <button id="send" disabled>Send</button>
    </form>
    <p class="hint">WebSocket <code>/chat</code> · open a second tab to see it broadcast</p>
  </section>
  <section class="card" aria-label="Ticker">
    <div class="card-head"><h2>Ticker</h2><span id="live" class="badge">connecting…</span></div>
    <div class="clock-face">
      <div id="clock">--:--:--</div>
      <div id="count-line">tick <span id="count">0</span> of this stream</div>
      <div class="pulse"><i id="pulse"></i></div>
    </div>
    <p class="hint">Server-Sent Events <code>/ticker</code> · an Observable response body</p>
  </section>
</main>
<footer>Also here: <a href="/health">/health</a>. Everything else is a 404.</footer>
<script type="module">
  const $ = (id) => document.getElementById(id);
  const log = $('log');
  const nameInput = $('name');
  const textInput = $('text');
  const send = $('send');
  nameInput.value =
    localStorage.getItem('rxgi-name') || 'guest-' + Math.random().toString(36).slice(2, 6);
  nameInput.addEventListener('change', () => localStorage.setItem('rxgi-name', nameInput.value));

  function badge(el, label, on) {
    el.textContent = label;
    el.classList.toggle('on', on);
  }

  function element(tag, className, content) {
    const el = document.createElement(tag);
    el.className = className;
    el.textContent = content;
    return el;
  }

  // Kept until the first message arrives (on a reconnect too).
  const placeholder = log.querySelector('.empty');
  // This page's session address: its own messages have ids that start with it.
  let me = null;

  function show(message) {
    placeholder.remove();
    const item = document.createElement('li');
    if (me !== null && String(message.id).startsWith(me + '#')) item.className = 'mine';
    const meta = element('div', 'meta', '');
    meta.append(element('b', '', message.name), new Date(message.at).toLocaleTimeString());
    item.append(meta, element('div', 'text', message.text));
    item.dataset.at = message.at;
    // History from another process may come after newer messages: keep the log in time order.
    const later = [...log.children].find((other) => other.dataset.at > message.at);
    log.insertBefore(item, later ?? null);
    log.scrollTop = log.scrollHeight;
  }

  let socket = null;
  function connect() {
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    socket = new WebSocket(scheme + location.host + '/chat');
    socket.onopen = () => {
      log.replaceChildren(placeholder); // the server sends the recent history first
      send.disabled = false;
    };
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.system) {
        me = message.you;
        badge($('online'), message.system, true);
      } else show(message);
    };
    socket.onclose = () => {
      send.disabled = true;
      badge($('online'), 'reconnecting…', false);
      setTimeout(connect, 1500);
    };
  }
  connect();

  $('form').addEventListener('submit', (event) => {
    event.preventDefault();
    if (!textInput.value.trim() || socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify({ name: nameInput.value, text: textInput.value }));
    textInput.value = '';
  });

  const ticker = new EventSource('/ticker');
  ticker.onopen = () => badge($('live'), 'live', true);
  ticker.onerror = () => badge($('live'), 'reconnecting…', false);
  ticker.onmessage = (event) => {
    const tick = JSON.parse(event.data);
    $('clock').textContent = new Date(tick.time).toLocaleTimeString();
    $('count').textContent = String(tick.count);
    const pulse = $('pulse');
    pulse.classList.remove('run');
    void pulse.offsetWidth; // restart the animation
    pulse.classList.add('run');
  };
</script>
</body>
</html>
`;
