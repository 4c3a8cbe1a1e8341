/** `tokenwarden complete <redirect-url|code>`: finish an open flow from any process. */
import { openWarden } from '../warden.js';
import { jsonLine, type Io } from './output.js';

export async function runComplete(o: { config?: string; input: string; json?: boolean }, io: Io): Promise<number> {
  const warden = await openWarden(o.config ? { configPath: o.config } : {});
  try {
    const done = await warden.flows.completeFromInput(o.input, { via: 'cli' });
    io.out(
      o.json
        ? jsonLine({
            event: 'authorized',
            connection: done.connection,
            account: done.account,
            flow_id: done.flowId,
            ...(done.warning ? { warning: done.warning } : {}),
          })
        : `Authorized "${done.connection}"${done.account ? ` as ${done.account}` : ''}. Tokens stored.\n`,
    );
    // Not a success to stay quiet about: this grant dies with its access token.
    if (done.warning) io.err(`Warning: ${done.warning.summary} Fix: ${done.warning.fix}\n`);
    return 0;
  } finally {
    await warden.close();
  }
}
