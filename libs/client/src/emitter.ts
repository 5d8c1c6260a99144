/** A small typed event emitter (no node:events, so the client stays portable). */

export type Listener<T> = (payload: T) => void;

export class Emitter<Events extends object> {
  /**
   * Listeners by event, copied on change: `emit` walks the array it finds, unaffected by listeners added
   * or removed meanwhile, with no copy per event (the client emits one per update it hears).
   */
  private readonly listeners = new Map<keyof Events, readonly Listener<never>[]>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener as Listener<never>]);
    return () => this.off(event, listener);
  }

  /** Adds a listener called at most once. */
  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const remove = this.on(event, (payload) => {
      remove();
      listener(payload);
    });
    return remove;
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    const list = this.listeners.get(event);
    if (list === undefined) return;
    const at = list.indexOf(listener as Listener<never>);
    if (at < 0) return;
    const rest = list.filter((_, index) => index !== at);
    if (rest.length === 0) this.listeners.delete(event);
    else this.listeners.set(event, rest);
  }

  protected emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const list = this.listeners.get(event);
    if (list === undefined) return;
    for (const listener of list) (listener as Listener<Events[K]>)(payload);
  }
}
