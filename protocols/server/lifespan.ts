import type { Lifespan, LifespanEvent, LifespanReply } from '../../core/lifespan.js';
import { logger } from '../../core/log.js';
import { Subject } from '../../core/rx.js';

/** Runs an app's lifespan handler (SPEC.md §7): startup before listening, shutdown after. */
export class LifespanRunner {
  private readonly events = new Subject<LifespanEvent>();
  private waiting: ((reply: LifespanReply | null) => void) | null = null;
  /** A reply that came before `startup` was sent (a handler such as `of(startup-complete)`). */
  private early: LifespanReply | null = null;
  private asked = false;
  private done = false;

  constructor(lifespan: Lifespan) {
    lifespan(this.events.asObservable()).subscribe({
      next: (reply) => this.settle(reply),
      error: (error) => {
        this.done = true;
        this.settle({ type: 'startup-failed', message: String(error?.message ?? error) });
      },
      complete: () => {
        this.done = true;
        this.settle(null);
      },
    });
  }

  /**
   * Resolves once the app is ready; rejects with the app's message when startup failed, or
   * after `deadline` ms without a reply (the handler's events then complete).
   */
  async startup(deadline: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(resolve, deadline, 'late');
    });
    const reply = await Promise.race([this.ask({ type: 'startup' }), late]);
    clearTimeout(timer);
    if (reply === 'late') {
      this.waiting = null;
      this.events.complete();
      throw new Error(`lifespan startup timed out after ${deadline} ms`);
    }
    if (reply?.type === 'startup-failed')
      throw new Error(`lifespan startup failed: ${reply.message}`);
  }

  /** Resolves when the app has shut down, or after `deadline` ms. */
  async shutdown(deadline: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(resolve, deadline, null);
    });
    await Promise.race([this.ask({ type: 'shutdown' }), timeout]);
    clearTimeout(timer);
    this.events.complete();
  }

  private ask(event: LifespanEvent): Promise<LifespanReply | null> {
    this.asked = true;
    const early = this.early;
    this.early = null;
    if (early !== null) return Promise.resolve(early);
    if (this.done) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.events.next(event);
    });
  }

  private settle(reply: LifespanReply | null): void {
    const waiting = this.waiting;
    this.waiting = null;
    if (waiting !== null) waiting(reply);
    else if (reply === null) return;
    else if (!this.asked && this.early === null) this.early = reply;
    else logger().warn('lifespan reply ignored: no reply was awaited', { reply: reply.type });
  }
}
