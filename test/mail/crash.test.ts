/**
 * Crash safety of the outbox: a row claimed by a dead owner is delivered by a new instance
 * once its lease expires (at-least-once; a duplicate carries the same Message-ID).
 * The kill -9 case runs the real code in a child process (transpiled from src/ with the
 * TypeScript compiler API, no build step needed) and kills it mid-SMTP-transaction.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { randomBytes } from 'node:crypto';
import ts from 'typescript';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMailService, type MailService } from '../../src/mail/index.js';
import { startSmtpPeer, type SmtpPeer } from '../peers/smtp.js';
import {
  FakeClock,
  RecordingEvents,
  StubTokens,
  mailConfig,
  openTestStore,
  silentLogger,
  type TestStore,
} from './helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const LEASE_MS = 60_000;

function buildService(t: TestStore, smtp: SmtpPeer, clock: FakeClock, owner: string): MailService {
  return createMailService({
    config: mailConfig({
      agent: {
        address: 'agent@example.com',
        send: [
          { smtp: { host: smtp.host, port: smtp.port, secure: false, user: 'agent@example.com', password: 'pw' } },
        ],
      },
    }),
    store: t.store,
    tokens: new StubTokens(),
    clock,
    logger: silentLogger,
    events: new RecordingEvents(),
    owner,
    options: { leaseMs: LEASE_MS },
  });
}

describe('lease expiry after a crashed sender', () => {
  let smtp: SmtpPeer;
  let t: TestStore;
  afterEach(async () => {
    await smtp.stop();
    await t.cleanup();
  });

  it('a row claimed by a dead owner is re-claimed and delivered by a new instance after the lease', async () => {
    smtp = await startSmtpPeer({ passwords: { 'agent@example.com': 'pw' } });
    t = openTestStore();
    const clock = new FakeClock(Date.now());
    const now = clock.now();
    await t.store.enqueueMessage(
      {
        id: 'm1',
        mailbox: 'agent',
        idempotencyKey: 'k1',
        messageId: '<m1@example.com>',
        payload: JSON.stringify({
          v: 1,
          raw: Buffer.from('Message-ID: <m1@example.com>\r\nSubject: x\r\n\r\nhi\r\n').toString('base64'),
          envelope: { from: 'agent@example.com', to: ['bob@example.org'] },
        }),
        createdAt: now,
      },
      now,
    );
    const claimed = await t.store.claimMessages({ owner: 'dead-process', now, leaseMs: LEASE_MS, limit: 10 });
    expect(claimed).toHaveLength(1);

    const svc = buildService(t, smtp, clock, 'new-process');
    try {
      expect(await svc.deliverDue()).toBe(0); // the dead owner's lease still holds
      expect(smtp.received).toHaveLength(0);
      await clock.advance(LEASE_MS);
      expect(await svc.deliverDue()).toBe(1);
      expect(smtp.countByMessageId('<m1@example.com>')).toBe(1);
      expect(await t.store.getMessage('m1')).toMatchObject({ status: 'sent', attempts: 1 });
    } finally {
      await svc.stop();
    }
  });
});

describe('kill -9 mid-delivery', () => {
  let outDir: string;
  let childEntry: string;
  let groupChildEntry: string;

  beforeAll(() => {
    // Transpile src/ and the child fixture (types erased only) into test-output/.
    outDir = join(ROOT, 'test-output', `mail-crash-${randomBytes(4).toString('hex')}`);
    const files: string[] = [];
    const walk = (d: string): void => {
      for (const f of readdirSync(d)) {
        const p = join(d, f);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts') && !p.endsWith('.test.ts') && !p.endsWith('.d.ts')) files.push(p);
      }
    };
    walk(join(ROOT, 'src'));
    files.push(join(ROOT, 'test', 'mail', 'fixtures', 'crash-child.ts'));
    files.push(join(ROOT, 'test', 'mail', 'fixtures', 'group-crash-child.ts'));
    files.push(join(ROOT, 'test', 'mail', 'fixtures', 'child-mail.ts'));
    for (const f of files) {
      const out = ts.transpileModule(readFileSync(f, 'utf8'), {
        fileName: f,
        compilerOptions: {
          module: ts.ModuleKind.ESNext,
          target: ts.ScriptTarget.ES2022,
          verbatimModuleSyntax: false,
          isolatedModules: true,
        },
      });
      const dest = join(outDir, relative(ROOT, f)).replace(/\.ts$/, '.js');
      mkdirSync(dirname(dest), { recursive: true });
      writeFileSync(dest, out.outputText);
    }
    writeFileSync(join(outDir, 'package.json'), '{"type":"module"}');
    childEntry = join(outDir, 'test', 'mail', 'fixtures', 'crash-child.js');
    groupChildEntry = join(outDir, 'test', 'mail', 'fixtures', 'group-crash-child.js');
  });
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  async function runAndKill(stage: 'mail' | 'data'): Promise<{ smtp: SmtpPeer; t: TestStore; release: () => void }> {
    let reached!: () => void;
    const reachedP = new Promise<void>((r) => (reached = r));
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let holding = true;
    const smtp = await startSmtpPeer({
      passwords: { 'agent@example.com': 'pw' },
      beforeReply: async (s) => {
        if (!holding || s !== stage) return;
        reached();
        await released;
      },
    });
    const t = openTestStore();
    const child: ChildProcess = spawn(process.execPath, [childEntry], {
      env: {
        ...process.env,
        TW_CRASH_CHILD: JSON.stringify({
          db: t.file,
          key: t.key.toString('base64'),
          smtpPort: smtp.port,
          leaseMs: LEASE_MS,
        }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | number | null>((r) =>
      child.once('exit', (code, sig) => r(sig ?? code)),
    );
    await Promise.race([
      reachedP,
      exited.then((c) => Promise.reject(new Error(`child exited early (${String(c)}): ${stderr}`))),
    ]);
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    holding = false;
    return { smtp, t, release };
  }

  it.each([
    ['data', 2, 'provider accepted, not yet recorded: one bounded duplicate, same Message-ID'],
    ['mail', 1, 'killed before the provider accepted: exactly one copy'],
  ] as ['mail' | 'data', number, string][])(
    'killed at %s → restart delivers (%s copies): %s',
    async (stage: 'mail' | 'data', copies: number) => {
      const { smtp, t, release } = await runAndKill(stage);
      try {
        const rows = await t.store.listMessages({ mailbox: 'agent' });
        expect(rows).toHaveLength(1);
        const row = rows[0]!;
        expect(row.status).toBe('sending');
        expect(smtp.received.length).toBe(stage === 'data' ? 1 : 0);

        const clock = new FakeClock(Date.now());
        const svc = buildService(t, smtp, clock, 'restarted');
        try {
          expect(await svc.deliverDue()).toBe(0);
          await clock.advance(LEASE_MS);
          expect(await svc.deliverDue()).toBe(1);
        } finally {
          await svc.stop();
        }
        expect(smtp.countByMessageId(row.messageId)).toBe(copies);
        expect(smtp.received.every((m) => m.messageId === row.messageId)).toBe(true);
        expect(await t.store.getMessage(row.id)).toMatchObject({ status: 'sent' });
      } finally {
        release();
        await smtp.stop();
        await t.cleanup();
      }
    },
  );

  it('eight senders at once, run to the end: every send answered, the store closed, the process exits 0', async () => {
    // The writer thread keeps the process alive while a write (or the closing) is pending, and
    // not after: an awaited write never ends the process early, a closed store never holds it.
    const smtp = await startSmtpPeer({ passwords: { 'agent@example.com': 'pw' } });
    const t = openTestStore();
    try {
      const child = spawn(process.execPath, [groupChildEntry], {
        env: {
          ...process.env,
          TW_CRASH_CHILD: JSON.stringify({
            db: t.file,
            key: t.key.toString('base64'),
            smtpPort: smtp.port,
            leaseMs: LEASE_MS,
            messages: 24,
          }),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      const answers = stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { status: string });
      expect(answers).toHaveLength(24);
      expect(answers.every((a) => a.status === 'sent')).toBe(true);
      expect(smtp.received).toHaveLength(24);
    } finally {
      await smtp.stop();
      await t.cleanup();
    }
  });

  it('eight senders at once, killed mid-stream: every answered send is in the store, none is lost', async () => {
    // Group commits (on the store's writer thread) carry several senders' rows and events at
    // once; a send answers only after its commit, so whatever the kill interrupts, every
    // answered message is stored, its outcome and events with it, and goes out after a restart.
    const smtp = await startSmtpPeer({ passwords: { 'agent@example.com': 'pw' } });
    const t = openTestStore();
    try {
      const child: ChildProcess = spawn(process.execPath, [groupChildEntry], {
        env: {
          ...process.env,
          TW_CRASH_CHILD: JSON.stringify({
            db: t.file,
            key: t.key.toString('base64'),
            smtpPort: smtp.port,
            leaseMs: LEASE_MS,
            messages: 100_000,
          }),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const answered: { id: string; messageId: string; status: string }[] = [];
      let stderr = '';
      let buffered = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<NodeJS.Signals | number | null>((r) =>
        child.once('exit', (code, sig) => r(sig ?? code)),
      );
      const KILL_AFTER = 150;
      const enough = new Promise<void>((resolve) => {
        child.stdout?.on('data', (d: Buffer) => {
          buffered += d.toString();
          const lines = buffered.split('\n');
          buffered = lines.pop() ?? '';
          for (const l of lines) answered.push(JSON.parse(l) as (typeof answered)[number]);
          if (answered.length >= KILL_AFTER) {
            child.kill('SIGKILL'); // at once: more sends are in flight, in commits and on the wire
            resolve();
          }
        });
      });
      await Promise.race([
        enough,
        exited.then((c) => Promise.reject(new Error(`child exited early (${String(c)}): ${stderr}`))),
      ]);
      expect(await exited).toBe('SIGKILL');
      // Lines the child wrote before it died are answers too.
      for (const l of buffered.split('\n').filter(Boolean)) answered.push(JSON.parse(l) as (typeof answered)[number]);
      expect(answered.length).toBeGreaterThanOrEqual(KILL_AFTER);

      const events = await t.store.listEvents({ limit: 100_000 });
      const sentEvents = new Set(
        events.filter((e) => e.type === 'mail_sent').map((e) => (e.data as { id: string } | null)?.id),
      );
      for (const a of answered) {
        expect(a.status).toBe('sent');
        // The outcome committed before the answer, with its event in the same commit.
        expect(await t.store.getMessage(a.id)).toMatchObject({ status: 'sent', messageId: a.messageId });
        expect(sentEvents.has(a.id)).toBe(true);
        expect(smtp.countByMessageId(a.messageId)).toBeGreaterThanOrEqual(1);
      }

      // A restart delivers whatever the kill left claimed; nothing stored is dropped.
      const clock = new FakeClock(Date.now());
      await clock.advance(LEASE_MS);
      const svc = buildService(t, smtp, clock, 'restarted');
      try {
        await svc.deliverDue();
      } finally {
        await svc.stop();
      }
      const rows = await t.store.listMessages({ mailbox: 'agent', limit: 100_000 });
      expect(rows.length).toBeGreaterThanOrEqual(answered.length);
      for (const r of rows) {
        expect(r.status).toBe('sent');
        expect(smtp.countByMessageId(r.messageId)).toBeGreaterThanOrEqual(1);
      }
    } finally {
      await smtp.stop();
      await t.cleanup();
    }
  });
});
