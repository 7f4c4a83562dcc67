import { Observable, type Subscriber } from 'rxjs';

/**
 * A hot stream of values for any number of subscribers, as rxjs's `Subject` is, made for the
 * path every inbound event of every connection takes: `next` is a loop over a snapshot, with
 * no allocation (rxjs's `Subject.next` allocates a closure and an iterator per value, a cost
 * measured on the HTTP/2 hello world). Subscribing after `complete` completes at once.
 */
export class Multicast<T> {
  /** Replaced, never changed in place, so that `next` always loops over a snapshot. */
  private subscribers: readonly Subscriber<T>[] = [];
  private done = false;

  /** The values, for subscribers. */
  readonly observable = new Observable<T>((subscriber) => {
    if (this.done) {
      subscriber.complete();
      return;
    }
    this.subscribers = [...this.subscribers, subscriber];
    return () => {
      this.subscribers = this.subscribers.filter((other) => other !== subscriber);
    };
  });

  next(value: T): void {
    const subscribers = this.subscribers;
    for (let i = 0; i < subscribers.length; i++) subscribers[i].next(value);
  }

  complete(): void {
    if (this.done) return;
    this.done = true;
    const subscribers = this.subscribers;
    this.subscribers = [];
    for (const subscriber of subscribers) subscriber.complete();
  }
}
