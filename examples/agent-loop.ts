/**
 * A minimal agent loop on tokenwarden. Each turn the agent calls an API with its connection's
 * token (`warden.fetch`: bearer, refresh ahead of expiry, one retry on 401) and mails a report
 * (`warden.mailbox().send`: Gmail API first, SMTP with an App Password if OAuth is down).
 * When the grant is dead it does not crash: it says why (the error names the cause, where the
 * human was asked and what still works), keeps reporting through the fallback route, and waits
 * for the human (`warden.waitUntilReady`).
 *
 *   TOKENWARDEN_CONFIG=tokenwarden.yaml npx tsx examples/agent-loop.ts
 *
 * Environment: AGENT_CONNECTION (default: the first connection), AGENT_API_URL (fetched each
 * turn; default the provider's userinfo), AGENT_MAILBOX (default: the first mailbox),
 * AGENT_REPORT_TO (default: the mailbox's own address), AGENT_TURNS (default 3),
 * AGENT_WAIT_MS (how long to wait for the human; default 10 minutes).
 */
import { openWarden, ReauthRequiredError, TransientError, type WardenEvent } from 'tokenwarden';

const warden = await openWarden();
const conn = process.env['AGENT_CONNECTION'] ?? Object.keys(warden.config.connections)[0];
const mailboxName = process.env['AGENT_MAILBOX'] ?? Object.keys(warden.config.mailboxes)[0];
if (!conn || !mailboxName) throw new Error('configure at least one connection and one mailbox');
const apiUrl = process.env['AGENT_API_URL'] ?? 'https://openidconnect.googleapis.com/v1/userinfo';
const reportTo = process.env['AGENT_REPORT_TO'] ?? warden.config.mailboxes[mailboxName]?.address ?? '';
const turns = Number(process.env['AGENT_TURNS'] ?? 3);
const waitMs = Number(process.env['AGENT_WAIT_MS'] ?? 10 * 60_000);
const mailbox = warden.mailbox(mailboxName);

// Everything tokenwarden does shows up as typed events (refreshes, re-auth requests, failovers).
warden.events.on('event', (e: WardenEvent) => {
  if (e.type === 'reauth_completed' || e.type === 'mail_failover') console.log(`  [event] ${e.type}: ${e.message}`);
});

try {
  for (let turn = 1; turn <= turns; turn++) {
    let finding: string;
    try {
      const res = await warden.fetch(conn, apiUrl);
      finding = `GET ${new URL(apiUrl).pathname} answered ${res.status}`;
      await res.body?.cancel();
    } catch (err) {
      if (err instanceof ReauthRequiredError) {
        // Not a crash: a typed answer with the cause, where the human was asked, and what still works.
        console.log(`turn ${turn}: ${conn} needs its human: ${err.diagnosis.summary}`);
        console.log(
          `  asked via: ${err.reauth.askedVia?.join(', ') || 'nobody yet'}; still works: ${err.fallbacks.join('; ') || 'nothing'}`,
        );
        const r = await mailbox.send({
          to: reportTo,
          subject: `agent turn ${turn}: waiting for re-authorization`,
          text: err.message,
        });
        console.log(`  report ${r.status} via ${r.route ?? 'the outbox'}`);
        console.log('  waiting for the human…');
        await warden.waitUntilReady(conn, { timeoutMs: waitMs });
        console.log(`  ${conn} is ready again`);
        turn--; // redo this turn now that the credential works
        continue;
      }
      if (err instanceof TransientError) {
        finding = `provider unavailable (${err.message}); will retry next turn`;
      } else throw err;
    }
    const r = await mailbox.send({ to: reportTo, subject: `agent turn ${turn}`, text: finding });
    console.log(`turn ${turn}: ${finding}; report ${r.status} via ${r.route ?? 'the outbox'}`);
  }
} finally {
  await warden.close();
}
