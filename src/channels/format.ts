/**
 * Rendering shared by channels: one plain-text layout, escaping helpers, expiry in words.
 * Pure functions; every user-controlled string passes through an escaper before it reaches a
 * markup language (Telegram HTML, Slack mrkdwn).
 */
import { neutralizeControls } from '../core/text.js';
import type { ChannelMessage } from './types.js';

/**
 * The message with control characters neutralised (an account name from an ID token, a
 * provider's words): one line for the title, link, code and hint, several for the text.
 * Every renderer for a human (console, email, ntfy, Telegram, Slack) starts here.
 */
export function forHumans(msg: ChannelMessage): ChannelMessage {
  const line = (v: string): string => neutralizeControls(v);
  return {
    ...msg,
    title: line(msg.title),
    text: neutralizeControls(msg.text, { multiline: true }),
    ...(msg.url !== undefined ? { url: line(msg.url) } : {}),
    ...(msg.userCode !== undefined ? { userCode: line(msg.userCode) } : {}),
    ...(msg.pasteHint !== undefined ? { pasteHint: line(msg.pasteHint) } : {}),
  };
}

/** "in 9 minutes", "in 45 seconds", "in 2 hours 5 minutes", "already expired". */
export function expiresInWords(expiresAt: number, now: number): string {
  const ms = expiresAt - now;
  if (ms <= 0) return 'already expired';
  const s = Math.round(ms / 1000);
  if (s < 60) return `in ${plural(s, 'second')}`;
  const m = Math.round(s / 60);
  if (m < 60) return `in ${plural(m, 'minute')}`;
  const h = Math.floor(m / 60);
  const rm = m % 60;
  if (h < 48) return `in ${plural(h, 'hour')}${rm ? ` ${plural(rm, 'minute')}` : ''}`;
  return `in ${plural(Math.round(h / 24), 'day')}`;
}

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** `expires in 9 minutes (12:34 UTC)`. */
export function expiryLine(expiresAt: number, now: number): string {
  const at = new Date(expiresAt).toISOString().slice(11, 16);
  const words = expiresInWords(expiresAt, now);
  return words === 'already expired' ? 'This link has already expired.' : `Expires ${words} (${at} UTC).`;
}

/** Telegram HTML parse mode escaping: exactly `<`, `>`, `&` (and `"` for attributes). */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Slack mrkdwn escaping: `&`, `<`, `>` are control characters. */
export function escapeSlack(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Only http(s) links become clickable; anything else is shown as text. */
export function isWebLink(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}

/** Plain text for channels without markup (console, email, ntfy body). */
export function renderPlain(message: ChannelMessage, now: number): string {
  const msg = forHumans(message);
  const lines = [msg.title, '', msg.text];
  if (msg.url) lines.push('', `Open: ${msg.url}`);
  if (msg.userCode) lines.push(`Code: ${msg.userCode}`);
  if (msg.expiresAt !== undefined) lines.push(expiryLine(msg.expiresAt, now));
  if (msg.pasteHint)
    lines.push('', `When the browser lands on a page that does not load, paste its address: ${msg.pasteHint}`);
  return lines
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** Cut a string to `max` characters, marking the cut. */
export function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, Math.max(0, max - 1))}…`;
}

/** The URL in its canonical ASCII form (punycode host, percent-encoded path), or null. */
export function asciiHref(url: string): string | null {
  try {
    return new URL(url).href;
  } catch {
    return null;
  }
}
