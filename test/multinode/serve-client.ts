/**
 * A client process of serve-nodes.test.ts (`node --import tsx`): an agent that asks a
 * `tokenwarden serve` node for a token over HTTP (`POST /api/v1/connections/:name/token`).
 *
 * Request over IPC: `{ id, url, apiKey, conn, not }` → ask until the answer differs from `not`
 * (the token of the previous cycle: a node may serve its in-memory copy for the few
 * milliseconds before the store's change notification reaches it), then reply
 * `{ id, ok, token, attempts, status? , error? }`. Any non-200 answer ends the request with
 * `ok: false` at once: a client must never see a refusal during the cycles.
 */
interface Ask {
  id: number;
  url: string;
  apiKey: string;
  conn: string;
  not: string | null;
}

const DEADLINE_MS = 15_000;

async function askUntilNew(req: Ask): Promise<Record<string, unknown>> {
  const deadline = Date.now() + DEADLINE_MS;
  for (let attempts = 1; ; attempts++) {
    const res = await fetch(`${req.url}/api/v1/connections/${req.conn}/token`, {
      method: 'POST',
      headers: { authorization: `Bearer ${req.apiKey}` },
    });
    const text = await res.text();
    if (res.status !== 200) return { ok: false, status: res.status, error: text.slice(0, 500), attempts };
    const token = (JSON.parse(text) as { access_token: string }).access_token;
    if (token !== req.not) return { ok: true, token, attempts };
    if (Date.now() > deadline) return { ok: false, status: 200, error: 'still the previous token', attempts };
    // Let the node's change notification land before asking again (a yield, not a wait for time).
    await new Promise((r) => setImmediate(r));
  }
}

process.on('message', (req: Ask) => {
  askUntilNew(req).then(
    (r) => process.send?.({ id: req.id, ...r }),
    (err: Error) => process.send?.({ id: req.id, ok: false, error: `${err.name}: ${err.message}` }),
  );
});
process.send?.({ ready: true });
