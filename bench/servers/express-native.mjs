// Baseline: the Express hello world served natively by app.listen (node:http underneath).

import { HOST, PORT, ready } from './common.mjs';
import { app } from './express-app.mjs';

const server = app.listen(PORT, HOST, () => ready(server.address().port));
