/**
 * Slack incoming webhook: `{ text, blocks }`; `text` is the notification fallback.
 * @see https://api.slack.com/messaging/webhooks
 * @see https://api.slack.com/reference/surfaces/formatting#escaping
 */
import type { ChannelConfig } from '../config/schema.js';
import { asciiHref, escapeSlack, expiryLine, isWebLink, truncate } from './format.js';
import { checkReachable, postChannel } from './http.js';
import type { Channel, ChannelDeps, ChannelMessage } from './types.js';

type SlackConfig = Extract<ChannelConfig, { type: 'slack' }>;

/** `<url|Open>`: the URL must not contain `|` or `>`; `&` `<` `>` are escaped. */
export function slackLink(url: string, label: string): string {
  const href = (asciiHref(url) ?? url).replace(/\|/g, '%7C');
  return `<${escapeSlack(href)}|${escapeSlack(label)}>`;
}

export function renderSlack(msg: ChannelMessage, now: number): { text: string; blocks: unknown[] } {
  const lines = [`*${escapeSlack(msg.title)}*`, escapeSlack(msg.text)];
  if (msg.url) lines.push(isWebLink(msg.url) ? slackLink(msg.url, 'Open') : `\`${escapeSlack(msg.url)}\``);
  if (msg.userCode) lines.push(`Code: \`${escapeSlack(msg.userCode)}\``);
  if (msg.expiresAt !== undefined) lines.push(escapeSlack(expiryLine(msg.expiresAt, now)));
  if (msg.pasteHint) lines.push(`Paste the final address here: ${escapeSlack(msg.pasteHint)}`);
  const mrkdwn = truncate(lines.join('\n'), 3000); // section text limit
  const link = msg.url && isWebLink(msg.url) ? `: ${slackLink(msg.url, 'Open')}` : '';
  return {
    text: `${escapeSlack(msg.title)}${link}`,
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: mrkdwn } }],
  };
}

export function createSlackChannel(name: string, cfg: SlackConfig, deps: ChannelDeps): Channel {
  const fetchFn = deps.fetch ?? fetch;
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
