// rxgi: the same Express app as a contained node listener, fromNodeHandler(app) under serve(),
// from the built package (dist/).
import { serve } from 'rxgi';
import { fromNodeHandler } from 'rxgi/node';
import { HOST, PORT, ready } from './common.mjs';
import { app } from './express-app.mjs';

const server = await serve(fromNodeHandler(app), { host: HOST, port: PORT });
ready(server.port);
