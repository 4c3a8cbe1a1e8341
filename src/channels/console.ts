/** Console: human-readable lines on stderr (stdout stays clean for `token` and `--json`). */
import { renderPlain } from './format.js';
import type { Channel, ChannelDeps, ChannelMessage } from './types.js';

export function createConsoleChannel(name: string, deps: ChannelDeps): Channel {
  const write = deps.writeStderr ?? ((text: string) => void process.stderr.write(text));
  return {
    name,
    type: 'console',
    twoWay: false,
    send(msg: ChannelMessage) {
      const body = renderPlain(msg, deps.clock.now())
        .split('\n')
        .map((l) => `  ${l}`.trimEnd())
        .join('\n');
      write(`\n[tokenwarden] ${msg.kind.replace('_', ' ')} · ${msg.connection}\n${body}\n\n`);
      return Promise.resolve({});
    },
  };
}
