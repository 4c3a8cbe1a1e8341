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
    ...(msg.cause !== undefined ? { cause: neutralizeControls(msg.cause, { multiline: true }) } : {}),
    ...(msg.fix !== undefined ? { fix: neutralizeControls(msg.fix, { multiline: true }) } : {}),
    ...(msg.fallbacks !== undefined ? { fallbacks: msg.fallbacks.map(line) } : {}),
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

/** "So it does not happen again: …" — the line every channel shows for a message's fix. */
export const FIX_LABEL = 'So it does not happen again:';
/** "Meanwhile still works: …" — the line every channel shows for a message's fallbacks. */
export const FALLBACKS_LABEL = 'Meanwhile still works:';

/**
 * The parts of a message in the order every channel shows them: what happened, what to do now
 * (the link once, the code, its expiry, where to paste), what to change so it does not happen
 * again, what still works meanwhile. Each renderer escapes and decorates these, nothing more.
 */
export interface MessageParts {
  title: string;
  cause: string | null;
  now: string;
  url: string | null;
  userCode: string | null;
  expiry: string | null;
  paste: string | null;
  fix: string | null;
  fallbacks: string | null;
}

export function messageParts(message: ChannelMessage, now: number): MessageParts {
  const msg = forHumans(message);
  return {
    title: msg.title,
    cause: msg.cause ?? null,
    now: msg.text,
    url: msg.url ?? null,
    userCode: msg.userCode ?? null,
    expiry: msg.expiresAt !== undefined ? expiryLine(msg.expiresAt, now) : null,
    paste: msg.pasteHint ?? null,
    fix: msg.fix ? `${FIX_LABEL} ${msg.fix}` : null,
    fallbacks: msg.fallbacks?.length ? `${FALLBACKS_LABEL} ${msg.fallbacks.join('; ')}.` : null,
  };
}

/** Plain text for channels without markup (console, email, ntfy body). */
export function renderPlain(msg: ChannelMessage, now: number): string {
  const p = messageParts(msg, now);
  const lines = [p.title, ''];
  if (p.cause) lines.push(p.cause);
  lines.push(p.now);
  if (p.url) lines.push('', `Open: ${p.url}`);
  if (p.userCode) lines.push(`Code: ${p.userCode}`);
  if (p.expiry) lines.push(p.expiry);
  if (p.paste) lines.push('', p.paste);
  if (p.fix || p.fallbacks) lines.push('');
  if (p.fix) lines.push(p.fix);
  if (p.fallbacks) lines.push(p.fallbacks);
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
