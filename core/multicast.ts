import type { Subscriber } from 'rxjs';
import { Observable } from './rx.js';

/** `Multicast.subscribers` once it has ended. */
const ENDED = Symbol('rxgi.ended');

/**
 * A hot stream of values for any number of subscribers, as rxjs's `Subject` is, made for what
 * every connection and every WebSocket session keeps: it is its own Observable, holds a lone
 * subscriber without an array, and makes nothing per subscriber (a `Subject` keeps two arrays
 * and a teardown Subscription with its closure, about 450 bytes per session held for as long as
 * it is open). `deliver` makes nothing either (rxjs's `Subject.next` allocates a closure and an
 * iterator per value, a cost measured on the HTTP/2 hello world). It keeps one field, so that a
 * class may extend it for the price of that field (`handle`'s WebSocket session is the
 * Multicast of its messages). A subscriber that unsubscribes is dropped at the next value, the
 * next subscription or `end`, whichever comes first. Subscribing after `end` completes at once.
 */
export class Multicast<T> extends Observable<T> {
  /** One subscriber, or a list replaced (never changed in place) when there are more. */
  private subscribers: Subscriber<T> | readonly Subscriber<T>[] | typeof ENDED | null = null;

  /** The values, for subscribers: the Multicast itself. */
  get observable(): Observable<T> {
    return this;
  }

  /**
   * @internal rxjs's subscribe function, on the prototype: one given to the constructor would
   * be a field of every instance.
   */
  protected _subscribe(subscriber: Subscriber<T>): void {
    const current = this.subscribers;
    if (current === ENDED) {
      subscriber.complete();
      return;
    }
    if (current === null || (!Array.isArray(current) && (current as Subscriber<T>).closed)) {
      this.subscribers = subscriber;
      return;
    }
    const list = Array.isArray(current) ? current.filter(open) : [current as Subscriber<T>];
    list.push(subscriber);
    this.subscribers = list;
  }

  /** Give `value` to every subscriber. */
  deliver(value: T): void {
    const current = this.subscribers;
    if (current === null || current === ENDED) return;
    if (!Array.isArray(current)) {
      const subscriber = current as Subscriber<T>;
      if (subscriber.closed) this.subscribers = null;
      else subscriber.next(value);
      return;
    }
    let stale = false;
    for (let i = 0; i < current.length; i++) {
      const subscriber = current[i];
      if (subscriber.closed) stale = true;
      else subscriber.next(value);
    }
    // Pruned only if nobody replaced the list meanwhile (a subscription made by a subscriber).
    if (stale && this.subscribers === current) {
      const list = current.filter(open);
      this.subscribers = list.length === 0 ? null : list.length === 1 ? list[0] : list;
    }
  }

  /** Complete every subscriber, and any later one at once. */
  end(): void {
    const current = this.subscribers;
    if (current === ENDED) return;
    this.subscribers = ENDED;
    if (current === null) return;
    if (!Array.isArray(current)) (current as Subscriber<T>).complete();
    else for (const subscriber of current) subscriber.complete();
  }
}

function open<T>(subscriber: Subscriber<T>): boolean {
  return !subscriber.closed;
}
