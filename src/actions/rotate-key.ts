/**
 * Rotate the encryption key: every sealed value is opened with the old key and sealed again
 * with the new one, on either store engine; the store's codec owns the list of sealed columns
 * and their associated data (`Store.reseal`). `tokenwarden rotate-key` handles the key files.
 */
import { createSealer } from '../store/seal.js';
import type { Store } from '../store/types.js';

/** Re-seal every secret of `store` under `newKey`; returns how many values were re-sealed. */
export function rotateKey(store: Pick<Store, 'reseal'>, newKey: Buffer): Promise<number> {
  return store.reseal(createSealer(newKey));
}
