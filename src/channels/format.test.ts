import { describe, expect, it } from 'vitest';
import { escapeHtml, escapeSlack, expiresInWords, renderPlain } from './format.js';
import { messageText, redactBotToken } from './telegram.js';

describe('expiresInWords', () => {
  const now = Date.UTC(2026, 0, 1);
  it.each([
    [0, 'already expired'],
    [-5_000, 'already expired'],
    [1_000, 'in 1 second'],
    [45_000, 'in 45 seconds'],
    [60_000, 'in 1 minute'],
    [9 * 60_000, 'in 9 minutes'],
    [2 * 3_600_000 + 5 * 60_000, 'in 2 hours 5 minutes'],
    [3 * 86_400_000, 'in 3 days'],
  ])('%i ms → %s', (delta, words) => {
    expect(expiresInWords(now + delta, now)).toBe(words);
  });
});

describe('escaping', () => {
  it.each([
    ['<b>x</b> & "y"', '&lt;b&gt;x&lt;/b&gt; &amp; &quot;y&quot;'],
    ['&amp;', '&amp;amp;'],
  ])('html %s', (raw, escaped) => expect(escapeHtml(raw)).toBe(escaped));
  it('slack escapes control characters only', () =>
    expect(escapeSlack('<!here> & *b*')).toBe('&lt;!here&gt; &amp; *b*'));
});

describe('renderPlain', () => {
  it('leaves out absent fields', () => {
    expect(renderPlain({ kind: 'info', connection: 'c', title: 'T', text: 'body' }, 0)).toBe('T\n\nbody');
  });
});

describe('telegram helpers', () => {
  it('messageText appends URLs hidden in text_link entities', () => {
    expect(
      messageText({
        text: 'open this',
        entities: [{ type: 'text_link', offset: 0, length: 4, url: 'https://x/?code=1' }],
      }),
    ).toBe('open this\nhttps://x/?code=1');
    expect(messageText({ caption: 'cap' })).toBe('cap');
    expect(messageText({})).toBe('');
  });

  it('redactBotToken removes the token and token-shaped strings', () => {
    const token = '123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0';
    expect(redactBotToken(`https://api.telegram.org/bot${token}/getUpdates failed`, token)).toBe(
      'https://api.telegram.org/bot[bot-token]/getUpdates failed',
    );
    expect(redactBotToken('bot987654321:AAAbbbcccdddeeefffggghhhiiijjjkkk/x', token)).toBe('bot[bot-token]/x');
  });
});
