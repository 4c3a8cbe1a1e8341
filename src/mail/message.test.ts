import { describe, expect, it } from 'vitest';
import { MailInputError } from './errors.js';
import {
  MAX_RECIPIENTS,
  deriveIdempotencyKey,
  normaliseMessage,
  prepareOutgoing,
  stripBcc,
  decodePayload,
  encodePayload,
  prepareRaw,
} from './message.js';

const base = { to: 'bob@example.org', subject: 'hi', text: 'hello' };

describe('message preparation', () => {
  it('defaults from to the mailbox address and assigns <uuid@domain-of-from>', async () => {
    const p = await prepareOutgoing(base, {
      mailboxAddress: 'agent@corp.example',
      maxBytes: 1e6,
      now: Date.UTC(2026, 0, 1),
    });
    expect(p.messageId).toMatch(/^<[0-9a-f-]{36}@corp\.example>$/);
    expect(p.envelope).toEqual({ from: 'agent@corp.example', to: ['bob@example.org'] });
    const raw = p.raw.toString();
    expect(raw).toContain(`Message-ID: ${p.messageId}`);
    expect(raw).toContain('Date: Thu, 01 Jan 2026 00:00:00 +0000');
    expect(decodePayload(encodePayload(p)).raw.equals(p.raw)).toBe(true);
  });

  it('derived idempotency keys ignore address case/order, not content', () => {
    const a = normaliseMessage({ ...base, to: ['A@x.org', 'b@y.org'] }, 'me@z.org');
    const b = normaliseMessage({ ...base, to: ['b@y.org', 'a@x.org'] }, 'me@z.org');
    const c = normaliseMessage({ ...base, to: ['b@y.org', 'a@x.org'], text: 'other' }, 'me@z.org');
    expect(deriveIdempotencyKey(a)).toBe(deriveIdempotencyKey(b));
    expect(deriveIdempotencyKey(a)).not.toBe(deriveIdempotencyKey(c));
    expect(deriveIdempotencyKey(a)).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it.each([
    [{ ...base, from: 'a@x.org, b@y.org' }, 'from'],
    [{ ...base, replyTo: 'nope' }, 'replyTo'],
    [{ ...base, inReplyTo: 'not-a-msgid' }, 'inReplyTo'],
    [{ ...base, headers: { Subject: 'override' } }, 'headers.Subject'],
    [{ ...base, headers: { 'Bad Name': 'x' } }, 'headers.Bad Name'],
    [{ ...base, attachments: [{ filename: '', content: 'aGk=' }] }, 'attachments[0].filename'],
    [{ ...base, idempotencyKey: '' }, 'idempotencyKey'],
  ])('rejects %# naming %s', (m, field) => {
    let err: unknown;
    try {
      normaliseMessage(m, 'me@z.org');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MailInputError);
    expect((err as MailInputError).field).toBe(field);
  });

  it('accepts display names, attachments from base64 and Buffers', async () => {
    const p = await prepareOutgoing(
      {
        ...base,
        to: '"Bob B" <bob@example.org>',
        attachments: [
          { filename: 'a.txt', content: 'aGVsbG8=' },
          { filename: 'b.bin', content: Buffer.from([1, 2]), contentType: 'application/octet-stream' },
        ],
      },
      { mailboxAddress: 'me@z.org', maxBytes: 1e6, now: 0 },
    );
    expect(p.envelope.to).toEqual(['bob@example.org']);
    expect(p.raw.toString()).toContain('filename=a.txt');
  });

  it('stripBcc removes the Bcc header and its folded lines only', () => {
    const raw = Buffer.from(
      'From: a@x\r\nBcc: one@x,\r\n two@x\r\nTo: b@x\r\nSubject: s\r\n\r\nBcc: in body stays\r\n',
    );
    expect(stripBcc(raw).toString()).toBe('From: a@x\r\nTo: b@x\r\nSubject: s\r\n\r\nBcc: in body stays\r\n');
  });
});

describe('recipient cap (shared by the library, CLI, HTTP API and MCP)', () => {
  it(`accepts ${MAX_RECIPIENTS} recipients over to, cc and bcc, refuses one more naming the count`, () => {
    const addrs = Array.from({ length: MAX_RECIPIENTS + 1 }, (_, i) => `r${i}@example.org`);
    const split = (n: number) => ({
      to: addrs.slice(0, 200),
      cc: addrs.slice(200, 400),
      bcc: addrs.slice(400, n),
      subject: 's',
    });
    const ok = normaliseMessage(split(MAX_RECIPIENTS), 'agent@example.com');
    expect(ok.to.length + ok.cc.length + ok.bcc.length).toBe(500);
    expect(() => normaliseMessage(split(MAX_RECIPIENTS + 1), 'agent@example.com')).toThrow(MailInputError);
    expect(() => normaliseMessage(split(MAX_RECIPIENTS + 1), 'agent@example.com')).toThrow(
      'to: at most 500 recipients (to, cc and bcc together) per message; got 501',
    );
    // One address string may hold many addresses: the cap counts what it parses to.
    expect(() => normaliseMessage({ to: addrs.join(', '), subject: 's' }, 'agent@example.com')).toThrow(/got 501/);
  });
});

describe('client-composed (raw) messages', () => {
  const opts = { mailboxAddress: 'Agent <agent@example.com>', maxBytes: 2_000, now: Date.UTC(2026, 0, 2, 3, 4, 5) };
  const env = (to: string[]) => ({ from: 'Agent@Example.com', to });

  it("keeps the bytes, the line endings and the client's Message-ID; adds only a missing Date", () => {
    const raw = Buffer.from('Subject: x\nMessage-ID: <m1@host>\nTo: bob@example.org\n\nbody\n');
    const p = prepareRaw({ raw, envelope: env(['bob@example.org']) }, opts);
    expect(p.messageId).toBe('<m1@host>');
    expect(p.raw.toString()).toBe(`Date: Fri, 02 Jan 2026 03:04:05 +0000\n${raw.toString()}`);
    expect(p.envelope).toEqual({ from: 'Agent@Example.com', to: ['bob@example.org'] });
    expect(p.idempotencyKey).toMatch(/^raw:sha256:[0-9a-f]{64}$/);
    // Same bytes and envelope: same key (a resend is sent once); another envelope: another key.
    expect(prepareRaw({ raw, envelope: env(['bob@example.org']) }, opts).idempotencyKey).toBe(p.idempotencyKey);
    expect(prepareRaw({ raw, envelope: env(['eve@example.org']) }, opts).idempotencyKey).not.toBe(p.idempotencyKey);
  });

  it('without a Message-ID every message is distinct (no accidental dedupe)', () => {
    const raw = Buffer.from('Subject: daily\r\nDate: Fri, 02 Jan 2026 03:04:05 +0000\r\n\r\nsame body\r\n');
    const a = prepareRaw({ raw, envelope: env(['bob@example.org']) }, opts);
    const b = prepareRaw({ raw, envelope: env(['bob@example.org']) }, opts);
    expect(a.idempotencyKey).not.toBe(b.idempotencyKey);
    expect(a.raw.toString()).toMatch(
      /^Message-ID: <[0-9a-f-]{36}@Example\.com>\r\nBcc: bob@example\.org\r\nSubject: daily/,
    );
  });

  it('adds only envelope recipients missing from To/Cc/Bcc (case-insensitive) as Bcc', () => {
    const raw = Buffer.from(
      'To: "Bob" <Bob@Example.org>\r\nCc: carol@example.org,\r\n dave@example.org\r\nMessage-ID: <m2@h>\r\nDate: x\r\n\r\n.',
    );
    const p = prepareRaw({ raw, envelope: env(['bob@example.org', 'dave@example.org', 'erin@example.org']) }, opts);
    expect(p.raw.toString()).toBe(`Bcc: erin@example.org\r\n${raw.toString()}`);
  });

  it.each([
    [
      { from: 'ceo@example.com', to: ['b@example.org'] },
      'Subject: x\r\n\r\n',
      /envelope\.from: only the mailbox address/,
    ],
    [{ from: 'agent@example.com', to: [] }, 'Subject: x\r\n\r\n', /envelope\.to: at least one recipient/],
    [{ from: 'agent@example.com', to: ['not an address'] }, 'Subject: x\r\n\r\n', /envelope\.to\[0\]/],
    [
      { from: 'agent@example.com', to: Array.from({ length: MAX_RECIPIENTS + 1 }, (_, i) => `r${i}@example.org`) },
      'Subject: x\r\n\r\n',
      /at most 500 recipients/,
    ],
    [
      { from: 'agent@example.com', to: ['b@example.org'] },
      `Subject: x\r\n\r\n${'y'.repeat(2_000)}`,
      /exceeds max_message_bytes 2000/,
    ],
    [
      { from: 'agent@example.com', to: ['b@example.org'] },
      '\r\njust a body',
      /RFC 5322 message starting with header fields/,
    ],
  ])('refuses %j', (envelope, raw, re) => {
    expect(() => prepareRaw({ raw: Buffer.from(raw), envelope }, opts)).toThrow(MailInputError);
    expect(() => prepareRaw({ raw: Buffer.from(raw), envelope }, opts)).toThrow(re);
  });
});
