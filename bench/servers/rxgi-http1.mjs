// rxgi: hello world through handle() and the HTTP/1.1 driver, from the built package (dist/).
import { handle, serve, text } from 'rxgi';
import { HOST, PORT, ready } from './common.mjs';

const server = await serve(
  handle(() => text('Hello, world!\n')),
  { host: HOST, port: PORT },
);
ready(server.port);
