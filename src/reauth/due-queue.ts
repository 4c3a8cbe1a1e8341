/**
 * An indexed binary min-heap of due times: the scheduler's "what is next" for 100,000
 * connections without walking them. Each slot is a small integer id (the scheduler uses
 * `connection index × lanes + lane`); `set` inserts or moves a slot, `delete` removes it, and
 * both are O(log n). Ids, times and positions live in typed arrays (16 bytes per queued slot
 * and 4 per id, outside the JS heap, grown by doubling), and `position[id]` makes updates in
 * place possible.
 */
export class DueQueue {
  private n = 0;
  /** Heap order: ids and their due times side by side. */
  private ids = new Int32Array(64);
  private times = new Float64Array(64);
  /** position[id] = index in the heap + 1, or 0 when the id is not queued. */
  private position = new Int32Array(64);

  get size(): number {
    return this.n;
  }

  /** The due time of `id`, or null if it is not queued. */
  at(id: number): number | null {
    const p = id < this.position.length ? (this.position[id] as number) : 0;
    return p === 0 ? null : (this.times[p - 1] as number);
  }

  /** The earliest due time (Infinity when empty). */
  peekAt(): number {
    return this.n > 0 ? (this.times[0] as number) : Infinity;
  }

  /** Queue `id` at `time`, or move it there if it is queued already. */
  set(id: number, time: number): void {
    if (!Number.isInteger(id) || id < 0 || id > 0x7fffffff) throw new RangeError(`due-queue id ${id} out of range`);
    const p = id < this.position.length ? (this.position[id] as number) : 0;
    if (p === 0) {
      this.reserve(id);
      const i = this.n++;
      this.ids[i] = id;
      this.times[i] = time;
      this.position[id] = i + 1;
      this.up(i);
      return;
    }
    const i = p - 1;
    const old = this.times[i] as number;
    this.times[i] = time;
    if (time < old) this.up(i);
    else if (time > old) this.down(i);
  }

  /** Remove `id` if queued. */
  delete(id: number): void {
    const p = id >= 0 && id < this.position.length ? (this.position[id] as number) : 0;
    if (p === 0) return;
    const i = p - 1;
    this.position[id] = 0;
    const last = --this.n;
    if (i === last) return;
    const lastId = this.ids[last] as number;
    this.ids[i] = lastId;
    this.times[i] = this.times[last] as number;
    this.position[lastId] = i + 1;
    this.up(i);
    this.down((this.position[lastId] as number) - 1);
  }

  /** Remove and return every id due at or before `now`, earliest first. */
  popDue(now: number): number[] {
    const out: number[] = [];
    while (this.n > 0 && (this.times[0] as number) <= now) {
      const id = this.ids[0] as number;
      out.push(id);
      this.delete(id);
    }
    return out;
  }

  /** Room for one more slot and for `id` in the position index. */
  private reserve(id: number): void {
    if (this.n === this.ids.length) {
      this.ids = grow(this.ids, this.n * 2);
      this.times = grow(this.times, this.n * 2);
    }
    if (id >= this.position.length) this.position = grow(this.position, Math.max(id + 1, this.position.length * 2));
  }

  private up(i: number): void {
    const id = this.ids[i] as number;
    const t = this.times[i] as number;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((this.times[p] as number) <= t) break;
      this.move(p, i);
      i = p;
    }
    this.ids[i] = id;
    this.times[i] = t;
    this.position[id] = i + 1;
  }

  private down(i: number): void {
    const n = this.n;
    const id = this.ids[i] as number;
    const t = this.times[i] as number;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (this.times[r] as number) < (this.times[l] as number) ? r : l;
      if ((this.times[c] as number) >= t) break;
      this.move(c, i);
      i = c;
    }
    this.ids[i] = id;
    this.times[i] = t;
    this.position[id] = i + 1;
  }

  /** Copy the slot at `from` to `to` (the hole moves the other way). */
  private move(from: number, to: number): void {
    const id = this.ids[from] as number;
    this.ids[to] = id;
    this.times[to] = this.times[from] as number;
    this.position[id] = to + 1;
  }
}

function grow<T extends Int32Array | Float64Array>(a: T, length: number): T {
  const next = new (a.constructor as new (n: number) => T)(length);
  next.set(a);
  return next;
}
