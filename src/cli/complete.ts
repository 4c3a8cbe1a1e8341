/** `tokenwarden complete <redirect-url|code>`: finish an open flow from any process. */
import { openWarden } from '../warden.js';
import { jsonLine, wardenOptions, type Io } from './output.js';

export async function runComplete(o: { config?: string; input: string; json?: boolean }, io: Io): Promise<number> {
  const warden = await openWarden(wardenOptions(o, io));
  try {
    const done = await warden.flows.completeFromInput(o.input, { via: 'cli' });
    io.out(
      o.json
        ? jsonLine({ event: 'authorized', connection: done.connection, account: done.account, flow_id: done.flowId })
        : `Authorized "${done.connection}"${done.account ? ` as ${done.account}` : ''}. Tokens stored.\n`,
    );
    return 0;
  } finally {
    await warden.close();
  }
}
