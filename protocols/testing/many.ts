import { scriptError } from './collector.js';

/** Limits of a {@link many} run. */
export interface ManyOptions {
  /** Tasks in flight at once; all `n` by default. */
  concurrency?: number;
  /** Milliseconds for the whole run; past it, `many` rejects with `RXGI_ERR_SCRIPT`. Default 30 s. */
  deadline?: number;
}

/**
 * Run `task(0)` … `task(n - 1)` concurrently, at most `concurrency` at a time, and resolve with
 * their results in order. Memory is what the tasks return: return a summary (a status, a
 * length), not whole bodies, to keep a load test small. Rejects with the first task's error, or
 * with `RXGI_ERR_SCRIPT` naming how many finished when the deadline passes first.
 *
 * @example
 * const conn = await connect(url);
 * const statuses = await many(100, async (i) => (await conn.request({ target: `/item/${i}` }).done).status);
 */
export function many<T>(
  n: number,
  task: (index: number) => Promise<T>,
  options: ManyOptions = {},
): Promise<T[]> {
  const concurrency = Math.max(1, Math.min(options.concurrency ?? n, n));
  const deadline = options.deadline ?? 30_000;
  const results = new Array<T>(n);
  return new Promise<T[]>((resolve, reject) => {
    if (n <= 0) {
      resolve(results);
      return;
    }
    let started = 0;
    let finished = 0;
    let failed = false;
    const timer = setTimeout(() => {
      failed = true;
      reject(
        scriptError(
          `many: ${finished} of ${n} tasks finished within the deadline of ${deadline} ms`,
        ),
      );
    }, deadline);
    timer.unref?.();
    const next = (): void => {
      if (failed || started >= n) return;
      const index = started;
      started += 1;
      Promise.resolve(index)
        .then(task)
        .then(
          (value) => {
            results[index] = value;
            finished += 1;
            if (finished === n) {
              clearTimeout(timer);
              if (!failed) resolve(results);
            } else next();
          },
          (error: unknown) => {
            if (failed) return;
            failed = true;
            clearTimeout(timer);
            reject(error);
          },
        );
    };
    for (let i = 0; i < concurrency; i++) next();
  });
}
