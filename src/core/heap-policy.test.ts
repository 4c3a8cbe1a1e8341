import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors.js';
import { DEFAULT_HEAP_GROWTH_PERCENT, applyDaemonHeapPolicy } from './heap-policy.js';

describe('daemon heap policy', () => {
  it('applies 50 % by default, the environment value when given, and nothing for 0', () => {
    expect(applyDaemonHeapPolicy({}, [])).toEqual({ growthPercent: DEFAULT_HEAP_GROWTH_PERCENT, source: 'default' });
    expect(applyDaemonHeapPolicy({ TOKENWARDEN_HEAP_GROWTH: '80' }, [])).toEqual({ growthPercent: 80, source: 'env' });
    expect(applyDaemonHeapPolicy({ TOKENWARDEN_HEAP_GROWTH: '0' }, [])).toEqual({ growthPercent: null, source: 'env' });
  });

  it('leaves a --heap-growing-percent given to node alone (command line or NODE_OPTIONS)', () => {
    expect(applyDaemonHeapPolicy({ TOKENWARDEN_HEAP_GROWTH: '80' }, ['--heap-growing-percent=20'])).toEqual({
      growthPercent: null,
      source: 'node-flag',
    });
    expect(applyDaemonHeapPolicy({ NODE_OPTIONS: '--max-old-space-size=512 --heap_growing_percent=30' })).toEqual({
      growthPercent: null,
      source: 'node-flag',
    });
  });

  it.each(['abc', '-5', '1.5', '301', '50%'])('refuses TOKENWARDEN_HEAP_GROWTH=%s with a message naming it', (v) => {
    expect(() => applyDaemonHeapPolicy({ TOKENWARDEN_HEAP_GROWTH: v }, [])).toThrow(ConfigError);
    expect(() => applyDaemonHeapPolicy({ TOKENWARDEN_HEAP_GROWTH: v }, [])).toThrow(/TOKENWARDEN_HEAP_GROWTH/);
  });
});
