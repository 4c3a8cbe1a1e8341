import { describe, expect, it } from 'vitest';
import { literalSecretsInText } from './file-modes.js';

describe('literalSecretsInText', () => {
  it('finds secrets written out (block and flow style, Slack webhook URLs), not ${VAR} references', () => {
    const text = [
      'server: { api_key: "${API_KEY}" }',
      'channels:',
      '  tg: { type: telegram, bot_token: 123:abc, chat_id: 1, allow_from: [1] }',
      '  sl: { type: slack, url: https://hooks.slack.com/services/T0/B0/xyz }',
      'connections:',
      '  a:',
      '    client_secret: "${CS:-}"',
      '    secret: ""',
      '  b:',
      'password: hunter2',
    ].join('\n');
    expect(literalSecretsInText(text)).toEqual([
      'bot_token (line 3)',
      'Slack webhook URL (line 4)',
      'password (line 10)',
    ]);
    expect(literalSecretsInText('connections:\n  a: { client_secret: ${X}, token: "${Y}" }\n')).toEqual([]);
  });
});
