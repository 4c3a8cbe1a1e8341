/**
 * Work queued per key: a task for a key runs after every earlier task for the same key (the
 * orchestrator keeps one open flow per connection this way), tasks for different keys run at
 * once. A key's entry is dropped when its queue drains, so idle connections cost nothing.
 */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<unknown>>();

  /** Run `fn` after every earlier task for `key`; a failed task does not stop the next one. */
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return next;
  }
}
