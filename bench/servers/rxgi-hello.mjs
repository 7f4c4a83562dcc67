// rxgi: hello world through handle() and serve(), from the built package (dist/). One port
// serves both scenarios: HTTP/1.1, and cleartext HTTP/2 with prior knowledge (h2c, told apart by
// the connection preface).
import { handle, serve, text } from 'rxgi';
import { HOST, PORT, ready } from './common.mjs';

const server = await serve(
  handle(() => text('Hello, world!\n')),
  { host: HOST, port: PORT },
);
ready(server.port);
