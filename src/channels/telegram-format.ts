/**
 * What Telegram shows and what it hands back: the HTML of a channel message, the text of a
 * human's message (with hidden links), and the bot token kept out of any text.
 * @see https://core.telegram.org/bots/api#formatting-options (HTML style)
 */
import type { Message, MessageEntity } from 'grammy/types';
import type { ChannelMessage } from './types.js';
import { escapeHtml, isWebLink, messageParts, truncate } from './format.js';

export const MESSAGE_LIMIT = 4096;

/** Remove the bot token (and anything shaped like one) from text that may echo a request URL. */
export function redactBotToken(text: string, token: string): string {
  let out = token ? text.split(token).join('[bot-token]') : text;
  out = out.replace(/(?<![0-9])\d{5,}:[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_-])/g, '[bot-token]');
  return out;
}

/** Text the human sent, plus URLs hidden behind formatted links (`text_link` entities). */
export function messageText(m: Pick<Message, 'text' | 'caption' | 'entities' | 'caption_entities'>): string {
  const text = m.text ?? m.caption ?? '';
  const entities: MessageEntity[] = m.entities ?? m.caption_entities ?? [];
  const hidden = entities.flatMap((e) => (e.type === 'text_link' ? [e.url] : []));
  return [text, ...hidden].filter((s) => s !== '').join('\n');
}

/** Telegram HTML for a channel message. Every user-controlled string is escaped; the link appears once. */
export function renderTelegramHtml(msg: ChannelMessage, now: number, opts: { twoWay: boolean }): string {
  const p = messageParts(msg, now);
  const lines = [`<b>${escapeHtml(truncate(p.title, 200))}</b>`];
  if (p.cause) lines.push(escapeHtml(truncate(p.cause, 600)));
  lines.push(escapeHtml(truncate(p.now, 1000)));
  if (p.url) {
    lines.push('');
    lines.push(
      isWebLink(p.url)
        ? `<a href="${escapeHtml(p.url)}">Open the authorization page</a>`
        : `<code>${escapeHtml(truncate(p.url, 2000))}</code>`,
    );
  }
  if (p.userCode) lines.push(`Code: <code>${escapeHtml(p.userCode)}</code>`);
  if (p.expiry) lines.push(escapeHtml(p.expiry));
  // Here the human can answer in the chat itself: that is the one way to tell them.
  if (opts.twoWay && msg.kind === 'reauth_request' && p.url && !p.userCode)
    lines.push(
      '',
      'After approving, copy the address your browser ends on (even if the page does not load) and send it here.',
    );
  else if (p.paste) lines.push('', escapeHtml(p.paste));
  if (p.fix || p.fallbacks) lines.push('');
  if (p.fix) lines.push(escapeHtml(truncate(p.fix, 600)));
  if (p.fallbacks) lines.push(escapeHtml(truncate(p.fallbacks, 600)));
  return truncate(lines.join('\n'), MESSAGE_LIMIT);
}
