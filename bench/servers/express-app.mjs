// The Express 5 hello world both sides of the Express scenario serve.
import express from 'express';

export const app = express();
app.get('/', (_req, res) => res.type('text/plain').send('Hello, world!\n'));
