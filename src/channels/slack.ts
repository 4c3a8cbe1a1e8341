/**
 * Slack incoming webhook: `{ text, blocks }`; `text` is the notification fallback.
 * @see https://api.slack.com/messaging/webhooks
 * @see https://api.slack.com/reference/surfaces/formatting#escaping
 */
import type { ChannelConfig } from '../config/schema.js';
import { asciiHref, escapeSlack, isWebLink, messageParts, truncate } from './format.js';
import { checkReachable, postChannel } from './http.js';
import type { Channel, ChannelDeps, ChannelMessage } from './types.js';
import { outboundFetch } from '../core/proxy.js';

type SlackConfig = Extract<ChannelConfig, { type: 'slack' }>;

/** `<url|Open>`: the URL must not contain `|` or `>`; `&` `<` `>` are escaped. */
export function slackLink(url: string, label: string): string {
  const href = (asciiHref(url) ?? url).replace(/\|/g, '%7C');
  return `<${escapeSlack(href)}|${escapeSlack(label)}>`;
}

export function renderSlack(msg: ChannelMessage, now: number): { text: string; blocks: unknown[] } {
  const p = messageParts(msg, now);
  const lines = [`*${escapeSlack(p.title)}*`];
  if (p.cause) lines.push(escapeSlack(p.cause));
  lines.push(escapeSlack(p.now));
  if (p.url) lines.push(isWebLink(p.url) ? slackLink(p.url, 'Open') : `\`${escapeSlack(p.url)}\``);
  if (p.userCode) lines.push(`Code: \`${escapeSlack(p.userCode)}\``);
  if (p.expiry) lines.push(escapeSlack(p.expiry));
  if (p.paste) lines.push(escapeSlack(p.paste));
  if (p.fix) lines.push(escapeSlack(p.fix));
  if (p.fallbacks) lines.push(escapeSlack(p.fallbacks));
  const mrkdwn = truncate(lines.join('\n'), 3000); // section text limit
  const link = msg.url && isWebLink(msg.url) ? `: ${slackLink(msg.url, 'Open')}` : '';
  return {
    text: `${escapeSlack(msg.title)}${link}`,
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: mrkdwn } }],
  };
}

export function createSlackChannel(name: string, cfg: SlackConfig, deps: ChannelDeps): Channel {
  const fetchFn = deps.fetch ?? outboundFetch;
  return {
    name,
    type: 'slack',
    twoWay: false,
    check: () => checkReachable(name, fetchFn, cfg.url, deps.sendTimeoutMs),
    async send(msg: ChannelMessage) {
      const body = JSON.stringify(renderSlack(msg, deps.clock.now()));
      await postChannel(name, fetchFn, cfg.url, {
        headers: { 'Content-Type': 'application/json' },
        body,
        timeoutMs: deps.sendTimeoutMs,
      });
      return {};
    },
  };
}
