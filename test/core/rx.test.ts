import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as rxjs from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  isObservable,
  Observable,
  ReplaySubject,
  Subject,
  UnsubscriptionError,
} from '../../core/rx.js';

/**
 * core/rx.ts imports rxjs's classes from the modules that define them, not from the index: an
 * app sees the same objects as from `rxjs`, and a process that serves without rxjs's operators
 * never loads the index (1.7 MB of heap). An rxjs release that moves those modules fails here.
 */
const run = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;

describe('the rxjs values rxgi uses', () => {
  it('are the very objects rxjs exports', () => {
    expect(Observable).toBe(rxjs.Observable);
    expect(Subject).toBe(rxjs.Subject);
    expect(ReplaySubject).toBe(rxjs.ReplaySubject);
    expect(isObservable).toBe(rxjs.isObservable);
    expect(UnsubscriptionError).toBe(rxjs.UnsubscriptionError);
    // An app's Observable is one to rxgi, and rxgi's to rxjs.
    expect(isObservable(rxjs.of(1))).toBe(true);
    expect(rxjs.isObservable(new Observable())).toBe(true);
  });

  it('keep rxjs index out of a process that serves', async () => {
    // The built package (dist/, which `npm test` builds first), in a process of its own: every
    // entry point a server uses, then a request served.
    const script = `
      import { createRequire } from 'node:module';
      import { handle, serve, text } from 'rxgi';
      import 'rxgi/node';
      import 'rxgi/fetch';
      import 'rxgi/driver';
      import 'rxgi/remote';
      import 'rxgi/bus';
      const server = await serve(handle(() => text('hi')), { port: 0, host: '127.0.0.1' });
      const body = await (await fetch(server.url)).text();
      await server.close();
      const loaded = Object.keys(createRequire(import.meta.url).cache);
      console.log(JSON.stringify({
        body,
        rxjs: loaded.filter((file) => file.includes('/rxjs/')).length,
        index: loaded.some((file) => /\\/rxjs\\/dist\\/[^/]+\\/index\\.js$/.test(file)),
      }));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: root,
    });
    const seen = JSON.parse(stdout);
    expect(seen.body).toBe('hi');
    expect(seen.index).toBe(false);
    // Observable, the Subjects and what they need; the index alone is 223 files.
    expect(seen.rxjs).toBeGreaterThan(0);
    expect(seen.rxjs).toBeLessThan(40);
  });
});
