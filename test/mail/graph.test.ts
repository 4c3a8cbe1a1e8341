/** Graph route against the Graph fake: MIME sendMail, list with $filter, probe /me, error classes. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RouteError } from '../../src/mail/errors.js';
import { prepareOutgoing } from '../../src/mail/message.js';
import { GraphRoute } from '../../src/mail/routes/graph.js';
import { createMailService } from '../../src/mail/index.js';
import { startGraphFake, type GraphFake } from '../peers/graph-fake.js';
import { FakeClock, RecordingEvents, StubTokens, mailConfig, openTestStore, silentLogger } from './helpers.js';

const TOKEN = 'eyJ0eXAiOi.graph-token.sig';
let graph: GraphFake;
let route: GraphRoute;
const clock = new FakeClock(Date.now());
const tokens = new StubTokens().set('m365', TOKEN);

beforeAll(async () => {
  graph = await startGraphFake({ verifyToken: async (t) => t === TOKEN });
  route = new GraphRoute({ connection: 'm365', apiBase: graph.url, tokens, fetch, clock });
});
afterAll(async () => graph.stop());

describe('Graph route', () => {
  it('sends the MIME message base64 as text/plain (Message-ID preserved)', async () => {
    const p = await prepareOutgoing(
      { to: 'bob@example.org', subject: 'via graph', text: 'hi' },
      { mailboxAddress: 'agent@contoso.com', maxBytes: 1e6, now: clock.now() },
    );
    await route.send(p.raw, p.envelope, { id: 'x', messageId: p.messageId });
    expect(graph.sent).toHaveLength(1);
    expect(graph.sent[0]?.headers.get('message-id')).toBe(p.messageId);
    expect(graph.sent[0]?.headers.get('subject')).toBe('via graph');
    expect(p.messageId).toMatch(/@contoso\.com>$/);
  });

  it('lists with $filter on receivedDateTime, newest first, normalised', async () => {
    const base = Date.UTC(2026, 0, 10, 12);
    graph.seed({
      from: '"Alice" <alice@example.org>',
      to: 'agent@contoso.com',
      subject: 'old',
      date: new Date(base - 86_400_000),
    });
    graph.seed({
      from: 'carol@example.org',
      to: 'agent@contoso.com',
      subject: 'new one',
      date: new Date(base + 60_000),
      preview: 'preview text',
      messageId: '<n1@example.org>',
    });
    const got = await route.list({ since: new Date(base), limit: 5 });
    expect(got).toEqual([
      {
        id: expect.any(String),
        threadId: expect.any(String),
        messageId: '<n1@example.org>',
        from: 'carol@example.org <carol@example.org>',
        to: ['agent@contoso.com <agent@contoso.com>'],
        subject: 'new one',
        date: new Date(base + 60_000).toISOString(),
        snippet: 'preview text',
        route: 'graph:m365',
      },
    ]);
    expect(graph.requests.at(-1)?.search).toContain('%24filter=receivedDateTime+ge+2026-01-10T12');
    const one = await route.get(got[0]!.id);
    expect(one?.subject).toBe('new one');
  });

  it('probes GET /v1.0/me', async () => {
    await route.probe();
    expect(graph.requests.at(-1)).toMatchObject({ method: 'GET', path: '/v1.0/me' });
  });

  it.each([
    ['401', 'auth', 401, undefined, 'InvalidAuthenticationToken'],
    ['403', 'auth', 403, undefined, 'ErrorAccessDenied'],
    ['429', 'transient', 429, 7000, 'ApplicationThrottled'],
    ['503', 'transient', 503, 3000, 'ServiceNotAvailable'],
    ['400', 'permanent', 400, undefined, 'ErrorInvalidRecipients'],
  ] as const)('classifies %s as %s', async (fault, kind, status, retryAfterMs, code) => {
    graph.force(fault, 1);
    const e = await route.probe().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RouteError);
    expect(e).toMatchObject({ kind, status, retryAfterMs });
    expect((e as RouteError).message).toContain(code);
    expect((e as RouteError).message).not.toContain(TOKEN);
  });

  it('a token the API rejects fails over to the next route through the service', async () => {
    const ts = openTestStore();
    const bad = new StubTokens().set('m365', 'expired-token');
    const events = new RecordingEvents();
    const svc = createMailService({
      config: mailConfig({
        box: {
          address: 'agent@contoso.com',
          send: [{ graph: { connection: 'm365', api_base: graph.url } }],
          read: [{ graph: { connection: 'm365', api_base: graph.url } }],
        },
      }),
      store: ts.store,
      tokens: bad,
      clock,
      logger: silentLogger,
      events,
      owner: 't',
      fetch,
    });
    try {
      const r = await svc.mailbox('box').send({ to: 'bob@example.org', subject: 's', text: 't' });
      expect(r.status).toBe('queued');
      const health = await svc.probeAll();
      expect(health.map((h) => [h.direction, h.ok, h.circuit.state])).toEqual([
        ['send', false, 'open'],
        ['read', false, 'open'],
      ]);
      expect(events.ofType('probe_failed')).toHaveLength(2);
    } finally {
      await svc.stop();
      await ts.cleanup();
    }
  });
});
