/**
 * Email: plain text through a mailbox route that does not depend on OAuth (an SMTP App
 * Password), so the message still leaves when the OAuth grant it reports on is dead.
 */
import type { ChannelConfig } from '../config/schema.js';
import { ConfigError } from '../core/errors.js';
import { ChannelError } from './errors.js';
import { neutralizeControls } from '../core/text.js';
import { renderPlain } from './format.js';
import type { Channel, ChannelDeps, ChannelMessage } from './types.js';

type EmailConfig = Extract<ChannelConfig, { type: 'email' }>;

export function createEmailChannel(name: string, cfg: EmailConfig, deps: ChannelDeps): Channel {
  const sendMail = deps.sendMail;
  if (!sendMail)
    throw new ConfigError(
      `email channel needs a mailbox with a non-OAuth send route (mailbox "${cfg.mailbox}" has none, e.g. smtp with an app password)`,
      { path: `channels.${name}.mailbox` },
    );
  return {
    name,
    type: 'email',
    twoWay: false,
    async send(msg: ChannelMessage) {
      const subject = neutralizeControls(`[tokenwarden] ${msg.title.replace(/[\r\n]+/g, ' ')}`);
      try {
        await sendMail(cfg.to, subject, renderPlain(msg, deps.clock.now()));
      } catch (err) {
        throw new ChannelError(name, 'the mailbox could not send the message', { transient: true, cause: err });
      }
      return {};
    },
  };
}
