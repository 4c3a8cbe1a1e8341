/**
 * `tokenwarden serve` applies the daemon heap policy (src/core/heap-policy.ts) before it starts:
 * a bad TOKENWARDEN_HEAP_GROWTH stops it with a message naming the variable, before anything
 * listens. The policy's effect on memory is measured by bench/scale.ts, not timed here.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';

let ws: Workspace | undefined;
afterEach(() => ws?.cleanup());

describe('serve heap policy', () => {
  it('refuses a malformed TOKENWARDEN_HEAP_GROWTH with a clear message', async () => {
    ws = makeWorkspace({ server: { listen: '127.0.0.1:0' } });
    const r = await ws.cli(['serve'], { env: { TOKENWARDEN_HEAP_GROWTH: 'lots' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/TOKENWARDEN_HEAP_GROWTH must be a whole percent .* not "lots"/);
    expect(r.stdout).not.toMatch(/serving on/);
  });
});
