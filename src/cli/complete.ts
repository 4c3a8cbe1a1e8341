/**
 * `tokenwarden complete [<redirect-url|code> | -]`: finish an open flow from any process. The
 * answer can come on stdin (`-`, or no argument with stdin not a terminal), which keeps the
 * authorization code out of `ps` and shell history.
 */
import { completeFlow, directCompleter } from '../actions/complete-flow.js';
import { InputError, UsageError } from '../core/errors.js';
import { openWarden, partsOf } from '../warden.js';
import { jsonLine, wardenOptions, type Io } from './output.js';

/** A redirect URL is a few KiB at most; more on stdin is a mistake (a file piped by accident). */
export const MAX_STDIN_BYTES = 64 * 1024;

export interface CompleteInput extends AsyncIterable<Buffer | string> {
  isTTY?: boolean;
}

export async function runComplete(
  o: { config?: string; input?: string | undefined; json?: boolean; stdin?: CompleteInput },
  io: Io,
): Promise<number> {
  const input = await answerFrom(o.input, o.stdin ?? (process.stdin as CompleteInput));
  const warden = await openWarden(wardenOptions(o, io));
  try {
    const done = await completeFlow(directCompleter(partsOf(warden).flows), input, { via: 'cli' });
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

/** The argument, or stdin for `-` (or no argument when stdin is piped). */
async function answerFrom(arg: string | undefined, stdin: CompleteInput): Promise<string> {
  if (arg !== undefined && arg !== '-') return arg;
  if (arg === undefined && stdin.isTTY)
    throw new UsageError(
      'complete needs the redirect URL (or code): pipe it on stdin (`tokenwarden complete -`, keeps it out of ps and shell history) or give it as an argument.',
    );
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += b.length;
    if (size > MAX_STDIN_BYTES)
      throw new InputError(
        `Not accepted: more than ${MAX_STDIN_BYTES} bytes on stdin; expected one redirect URL or code.`,
      );
    chunks.push(b);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '')
    throw new InputError('Not accepted: nothing on stdin; pipe the redirect URL (or code) the browser reached.');
  return text;
}
