/**
 * A first-in first-out queue with O(1) push and shift, backed by an array whose consumed front is
 * dropped once it makes up most of the array.
 */

/** The consumed front is only compacted away once it is at least this long. */
const MIN_COMPACTION = 256;

export class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** The item `index` places from the front, or undefined past the end. */
  at(index: number): T | undefined {
    if (index < 0 || index >= this.length) return undefined;
    return this.items[this.head + index];
  }

  peek(): T | undefined {
    return this.at(0);
  }

  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.items[this.head];
    this.head += 1;
    this.compactIfWorthIt();
    return item;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }

  private compactIfWorthIt(): void {
    if (this.head === this.items.length) {
      this.clear();
      return;
    }
    if (this.head >= MIN_COMPACTION && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
