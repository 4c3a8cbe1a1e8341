/**
 * An indexed binary min-heap of due times: the scheduler's "what is next" for 100,000
 * connections without walking them. Each slot is a small integer id (the scheduler uses
 * `connection index × lanes + lane`); `set` inserts or moves a slot, `delete` removes it, and
 * both are O(log n). Ids and times live in flat number arrays (a few bytes per slot, no object
 * per entry), and `position[id]` makes updates in place possible.
 */
export class DueQueue {
  /** Heap order: ids and their due times side by side. */
  private readonly ids: number[] = [];
  private readonly times: number[] = [];
  /** position[id] = index in the heap, or -1 / undefined when the id is not queued. */
  private readonly position: number[] = [];

  get size(): number {
    return this.ids.length;
  }

  /** The due time of `id`, or null if it is not queued. */
  at(id: number): number | null {
    const i = this.position[id];
    return i === undefined || i < 0 ? null : (this.times[i] as number);
  }

  /** The earliest due time (Infinity when empty). */
  peekAt(): number {
    return this.times.length > 0 ? (this.times[0] as number) : Infinity;
  }

  /** Queue `id` at `time`, or move it there if it is queued already. */
  set(id: number, time: number): void {
    const i = this.position[id];
    if (i === undefined || i < 0) {
      this.ids.push(id);
      this.times.push(time);
      this.up(this.ids.length - 1);
      return;
    }
    const old = this.times[i] as number;
    this.times[i] = time;
    if (time < old) this.up(i);
    else if (time > old) this.down(i);
  }

  /** Remove `id` if queued. */
  delete(id: number): void {
    const i = this.position[id];
    if (i === undefined || i < 0) return;
    this.position[id] = -1;
    const lastId = this.ids.pop() as number;
    const lastTime = this.times.pop() as number;
    if (i === this.ids.length) return;
    this.ids[i] = lastId;
    this.times[i] = lastTime;
    this.position[lastId] = i;
    this.up(i);
    this.down(this.position[lastId] as number);
  }

  /** Remove and return every id due at or before `now`, earliest first. */
  popDue(now: number): number[] {
    const out: number[] = [];
    while (this.times.length > 0 && (this.times[0] as number) <= now) {
      const id = this.ids[0] as number;
      out.push(id);
      this.delete(id);
    }
    return out;
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
    this.position[id] = i;
  }

  private down(i: number): void {
    const n = this.ids.length;
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
    this.position[id] = i;
  }

  /** Copy the slot at `from` to `to` (the hole moves the other way). */
  private move(from: number, to: number): void {
    const id = this.ids[from] as number;
    this.ids[to] = id;
    this.times[to] = this.times[from] as number;
    this.position[id] = to;
  }
}
