/**
 * A per-instance in-memory storage adapter for oidc-provider (its built-in MemoryAdapter is a
 * module-level LRU of 1000 entries shared by every provider in the process: tests that start
 * many peers would see each other's artifacts and evictions).
 *
 * @see https://github.com/panva/node-oidc-provider/blob/main/example/my_adapter.js
 */

interface Entry {
  payload: Record<string, unknown>;
  expiresAt: number;
}

/** Shared storage of one peer: `model:id` → entry. */
export class OidcStorage {
  readonly entries = new Map<string, Entry>();

  /** Every live payload of `model`. */
  all(model: string): Array<Record<string, unknown>> {
    const now = Date.now();
    const out: Array<Record<string, unknown>> = [];
    for (const [key, e] of this.entries) {
      if (key.startsWith(`${model}:`) && e.expiresAt > now) out.push(e.payload);
    }
    return out;
  }

  /** Remove every artifact (token, code, grant) bound to `grantId`. */
  revokeGrant(grantId: string): void {
    for (const [key, e] of this.entries) {
      if (e.payload['grantId'] === grantId || key === `Grant:${grantId}`) this.entries.delete(key);
    }
  }

  /** The adapter class oidc-provider instantiates once per model name. */
  adapterClass(): new (model: string) => object {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const storage = this;
    return class Adapter {
      constructor(private readonly model: string) {}
      private key(id: string): string {
        return `${this.model}:${id}`;
      }
      upsert(id: string, payload: Record<string, unknown>, expiresIn?: number): Promise<void> {
        const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
        storage.entries.set(this.key(id), { payload, expiresAt });
        return Promise.resolve();
      }
      find(id: string): Promise<Record<string, unknown> | undefined> {
        const e = storage.entries.get(this.key(id));
        if (!e) return Promise.resolve(undefined);
        if (e.expiresAt <= Date.now()) {
          storage.entries.delete(this.key(id));
          return Promise.resolve(undefined);
        }
        return Promise.resolve(e.payload);
      }
      findByUserCode(userCode: string): Promise<Record<string, unknown> | undefined> {
        return Promise.resolve(storage.all(this.model).find((p) => p['userCode'] === userCode));
      }
      findByUid(uid: string): Promise<Record<string, unknown> | undefined> {
        return Promise.resolve(storage.all(this.model).find((p) => p['uid'] === uid));
      }
      consume(id: string): Promise<void> {
        const e = storage.entries.get(this.key(id));
        if (e) e.payload['consumed'] = Math.floor(Date.now() / 1000);
        return Promise.resolve();
      }
      destroy(id: string): Promise<void> {
        storage.entries.delete(this.key(id));
        return Promise.resolve();
      }
      revokeByGrantId(grantId: string): Promise<void> {
        for (const [key, e] of storage.entries) {
          if (key.startsWith(`${this.model}:`) && e.payload['grantId'] === grantId) storage.entries.delete(key);
        }
        return Promise.resolve();
      }
    };
  }
}
