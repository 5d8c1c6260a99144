/** The simulator's virtual time: a clock and the queue of what happens when (a binary heap, FIFO on ties). */
import type { Clock } from "../clock.ts";

interface Event {
  readonly at: number;
  readonly order: number;
  readonly run: () => void;
}

export class EventLoop implements Clock {
  #now = 0;
  #order = 0;
  readonly #heap: Event[] = [];
  /** Events run so far. */
  ran = 0;

  now(): number {
    return this.#now;
  }

  at(time: number, run: () => void): void {
    this.#push({ at: Math.max(time, this.#now), order: this.#order++, run });
  }

  after(ms: number, run: () => void): void {
    this.at(this.#now + ms, run);
  }

  /** Runs events in time order until none are left, `stop()` says so, or the time passes `until`. */
  run(until: number, stop: () => boolean = () => false): void {
    while (this.#heap.length > 0 && !stop()) {
      const next = this.#heap[0]!;
      if (next.at > until) break;
      this.#pop();
      this.#now = next.at;
      this.ran++;
      next.run();
    }
  }

  #before(a: Event, b: Event): boolean {
    return a.at < b.at || (a.at === b.at && a.order < b.order);
  }

  #push(event: Event): void {
    const heap = this.#heap;
    heap.push(event);
    let at = heap.length - 1;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!this.#before(heap[at]!, heap[parent]!)) break;
      [heap[at], heap[parent]] = [heap[parent]!, heap[at]!];
      at = parent;
    }
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let at = 0;
    for (;;) {
      const left = 2 * at + 1;
      const right = left + 1;
      let least = at;
      if (left < heap.length && this.#before(heap[left]!, heap[least]!)) least = left;
      if (right < heap.length && this.#before(heap[right]!, heap[least]!)) least = right;
      if (least === at) break;
      [heap[at], heap[least]] = [heap[least]!, heap[at]!];
      at = least;
    }
  }
}
