/**
 * ntfy: POST the message body to the topic URL, metadata in headers.
 * @see https://docs.ntfy.sh/publish/
 */
import type { ChannelConfig } from '../config/schema.js';
import { neutralizeControls } from '../core/text.js';
import { asciiHref, renderPlain } from './format.js';
import { checkReachable, postChannel } from './http.js';
import type { Channel, ChannelDeps, ChannelMessage, ChannelMessageKind } from './types.js';
import { outboundFetch } from '../core/proxy.js';

type NtfyConfig = Extract<ChannelConfig, { type: 'ntfy' }>;

/** ntfy priorities: 1 min … 5 max/urgent. */
const PRIORITY: Record<ChannelMessageKind, string> = {
  reauth_request: '5',
  reminder: '4',
  expiring: '4',
  probe_failed: '4',
  recovered: '3',
  info: '3',
};

/** Emoji short codes ntfy renders in front of the title. */
const TAGS: Record<ChannelMessageKind, string> = {
  reauth_request: 'key,warning',
  reminder: 'key,hourglass',
  expiring: 'hourglass',
  probe_failed: 'rotating_light',
  recovered: 'white_check_mark',
  info: 'information_source',
};

/**
 * Header values must be ASCII on the wire; ntfy decodes RFC 2047 encoded-words for the rest.
 * @see https://www.rfc-editor.org/rfc/rfc2047
 */
export function encodeHeaderValue(value: string): string {
  const oneLine = value.replace(/[\r\n]+/g, ' ');
  if (/^[\x20-\x7e]*$/.test(oneLine)) return oneLine;
  return `=?UTF-8?B?${Buffer.from(oneLine, 'utf8').toString('base64')}?=`;
}

export function createNtfyChannel(name: string, cfg: NtfyConfig, deps: ChannelDeps): Channel {
  const fetchFn = deps.fetch ?? outboundFetch;
  return {
    name,
    type: 'ntfy',
    twoWay: false,
    check: () => checkReachable(name, fetchFn, cfg.url, deps.sendTimeoutMs),
    async send(msg: ChannelMessage) {
      const headers: Record<string, string> = {
        'Content-Type': 'text/plain; charset=utf-8',
        Title: encodeHeaderValue(neutralizeControls(msg.title)),
        Tags: `${TAGS[msg.kind]},${encodeHeaderValue(msg.connection)}`,
        Priority: PRIORITY[msg.kind],
      };
      const click = msg.url ? asciiHref(msg.url) : null;
      if (click) headers['Click'] = click;
      if (cfg.token) headers['Authorization'] = `Bearer ${cfg.token}`;
      await postChannel(name, fetchFn, cfg.url, {
        headers,
        body: renderPlain(msg, deps.clock.now()),
        timeoutMs: deps.sendTimeoutMs,
      });
      return {};
    },
  };
}
