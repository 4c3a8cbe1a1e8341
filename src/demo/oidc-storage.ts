/**
 * Per-sandbox in-memory storage for oidc-provider (its built-in MemoryAdapter is shared by
 * every provider in the process), with grant revocation for the demo's "remove access" step.
 *
 * @see https://github.com/panva/node-oidc-provider/blob/main/example/my_adapter.js
 */

interface Entry {
  payload: Record<string, unknown>;
  expiresAt: number;
}

export class SandboxStorage {
  private readonly entries = new Map<string, Entry>();

  /** Every live payload of `model` (e.g. `Grant`). */
  all(model: string): Array<Record<string, unknown>> {
    const now = Date.now();
    return [...this.entries]
      .filter(([k, e]) => k.startsWith(`${model}:`) && e.expiresAt > now)
      .map(([, e]) => e.payload);
  }

  /** Remove every artifact (tokens, codes, the grant) bound to `grantId`. */
  revokeGrant(grantId: string): void {
    for (const [key, e] of this.entries)
      if (e.payload['grantId'] === grantId || key === `Grant:${grantId}`) this.entries.delete(key);
  }

  /** The adapter class oidc-provider instantiates once per model name. */
  adapterClass(): new (model: string) => object {
    const entries = this.entries;
    const all = (model: string): Array<Record<string, unknown>> => this.all(model);
    return class Adapter {
      constructor(private readonly model: string) {}
      private key(id: string): string {
        return `${this.model}:${id}`;
      }
      upsert(id: string, payload: Record<string, unknown>, expiresIn?: number): Promise<void> {
        entries.set(this.key(id), {
          payload,
          expiresAt: typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity,
        });
        return Promise.resolve();
      }
      find(id: string): Promise<Record<string, unknown> | undefined> {
        const e = entries.get(this.key(id));
        if (!e || e.expiresAt <= Date.now()) {
          entries.delete(this.key(id));
          return Promise.resolve(undefined);
        }
        return Promise.resolve(e.payload);
      }
      findByUserCode(userCode: string): Promise<Record<string, unknown> | undefined> {
        return Promise.resolve(all(this.model).find((p) => p['userCode'] === userCode));
      }
      findByUid(uid: string): Promise<Record<string, unknown> | undefined> {
        return Promise.resolve(all(this.model).find((p) => p['uid'] === uid));
      }
      consume(id: string): Promise<void> {
        const e = entries.get(this.key(id));
        if (e) e.payload['consumed'] = Math.floor(Date.now() / 1000);
        return Promise.resolve();
      }
      destroy(id: string): Promise<void> {
        entries.delete(this.key(id));
        return Promise.resolve();
      }
      revokeByGrantId(grantId: string): Promise<void> {
        for (const [key, e] of entries)
          if (key.startsWith(`${this.model}:`) && e.payload['grantId'] === grantId) entries.delete(key);
        return Promise.resolve();
      }
    };
  }
}
