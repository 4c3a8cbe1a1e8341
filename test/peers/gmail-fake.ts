/**
 * A fake Gmail REST API written to Google's published reference
 * (https://developers.google.com/gmail/api/reference/rest): users.messages.send (raw,
 * base64url), users.messages.list (`q` with `after:<epoch>` and subject words, `maxResults`),
 * users.messages.get (`format=metadata|full`), users.getProfile. Bearer tokens are checked by
 * an injectable verifier (oidc-provider introspection in end-to-end tests). Errors use the
 * documented bodies (https://developers.google.com/gmail/api/guides/handle-errors), and
 * `force(...)` makes the next calls fail with each of them.
 */
import { bearerOf, listenHttp, parseHeaders, readBody, sendJson } from './http-fake.js';

export type GmailFault = '401' | '403-scope' | '403-rate' | '429' | '500' | '400';

export interface GmailStoredMessage {
  id: string;
  threadId: string;
  raw: Buffer;
  internalDate: number;
  headers: Map<string, string>;
  snippet: string;
}

export interface GmailFake {
  /** e.g. `http://127.0.0.1:PORT` — use as the route's `api_base`. */
  url: string;
  sent: GmailStoredMessage[];
  /** Put a message into the mailbox (for list/get). */
  seed(m: { from: string; to: string; subject: string; date: Date; messageId?: string; snippet?: string }): string;
  /** Fail the next `times` calls (default: until cleared with `force(null)`). */
  force(fault: GmailFault | null, times?: number): void;
  requests: { method: string; path: string }[];
  stop(): Promise<void>;
}

const ERRORS: Record<GmailFault, { status: number; body: unknown; headers?: Record<string, string> }> = {
  '401': {
    status: 401,
    body: {
      error: {
        code: 401,
        message:
          'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
        errors: [
          {
            message: 'Invalid Credentials',
            domain: 'global',
            reason: 'authError',
            location: 'Authorization',
            locationType: 'header',
          },
        ],
        status: 'UNAUTHENTICATED',
      },
    },
  },
  '403-scope': {
    status: 403,
    body: {
      error: {
        code: 403,
        message: 'Request had insufficient authentication scopes.',
        errors: [{ message: 'Insufficient Permission', domain: 'global', reason: 'insufficientPermissions' }],
        status: 'PERMISSION_DENIED',
      },
    },
  },
  '403-rate': {
    status: 403,
    body: {
      error: {
        code: 403,
        message: 'User Rate Limit Exceeded',
        errors: [{ message: 'User Rate Limit Exceeded', domain: 'usageLimits', reason: 'userRateLimitExceeded' }],
      },
    },
  },
  '429': {
    status: 429,
    body: {
      error: {
        code: 429,
        message: 'Rate Limit Exceeded',
        errors: [{ message: 'Rate Limit Exceeded', domain: 'usageLimits', reason: 'rateLimitExceeded' }],
        status: 'RESOURCE_EXHAUSTED',
      },
    },
    headers: { 'retry-after': '30' },
  },
  '500': {
    status: 500,
    body: {
      error: {
        code: 500,
        message: 'Backend Error',
        errors: [{ message: 'Backend Error', domain: 'global', reason: 'backendError' }],
        status: 'INTERNAL',
      },
    },
  },
  '400': {
    status: 400,
    body: {
      error: {
        code: 400,
        message: 'Invalid To header',
        errors: [{ message: 'Invalid To header', domain: 'global', reason: 'invalidArgument' }],
        status: 'INVALID_ARGUMENT',
      },
    },
  },
};

export async function startGmailFake(opts: {
  verifyToken: (token: string) => Promise<boolean>;
  address?: string;
  /** Scopes granted to every token; profile/list/get need more than gmail.send. */
  scopes?: string[];
}): Promise<GmailFake> {
  const store: GmailStoredMessage[] = [];
  const sent: GmailStoredMessage[] = [];
  const requests: { method: string; path: string }[] = [];
  let fault: GmailFault | null = null;
  let faultTimes = Infinity;
  let seq = 0;
  const readScopes = [
    'https://mail.google.com/',
    'https://www.googleapis.com/auth/gmail.readonly',
    'https://www.googleapis.com/auth/gmail.modify',
    'https://www.googleapis.com/auth/gmail.metadata',
  ];
  const canRead = (): boolean => !opts.scopes || opts.scopes.some((s) => readScopes.includes(s));
  const nextId = (): string => (0x18c0000000 + ++seq).toString(16);

  const server = await listenHttp(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push({ method: req.method ?? 'GET', path: url.pathname });
    const token = bearerOf(req);
    if (fault && faultTimes > 0) {
      const e = ERRORS[fault];
      if (--faultTimes <= 0) fault = null;
      return sendJson(res, e.status, e.body, e.headers);
    }
    if (!token || !(await opts.verifyToken(token)))
      return sendJson(res, 401, ERRORS['401'].body, {
        'www-authenticate': 'Bearer realm="https://accounts.google.com/"',
      });
    const base = '/gmail/v1/users/me';
    if (req.method === 'POST' && url.pathname === `${base}/messages/send`) {
      const body = JSON.parse((await readBody(req)).toString('utf8')) as { raw?: string };
      if (!body.raw)
        return sendJson(res, 400, {
          error: {
            code: 400,
            message: "'raw' RFC822 payload message string or uploading message via /upload/* URL required",
            status: 'INVALID_ARGUMENT',
          },
        });
      const raw = Buffer.from(body.raw, 'base64url');
      const id = nextId();
      const m: GmailStoredMessage = {
        id,
        threadId: id,
        raw,
        internalDate: Date.now(),
        headers: parseHeaders(raw),
        snippet: '',
      };
      sent.push(m);
      return sendJson(res, 200, { id, threadId: id, labelIds: ['SENT'] });
    }
    if (!canRead()) return sendJson(res, 403, ERRORS['403-scope'].body);
    if (req.method === 'GET' && url.pathname === `${base}/profile`) {
      return sendJson(res, 200, {
        emailAddress: opts.address ?? 'agent@example.com',
        messagesTotal: store.length,
        threadsTotal: store.length,
        historyId: String(1000 + seq),
      });
    }
    if (req.method === 'GET' && url.pathname === `${base}/messages`) {
      const q = url.searchParams.get('q') ?? '';
      const max = Number(url.searchParams.get('maxResults') ?? '100');
      let after = -Infinity;
      const words: string[] = [];
      for (const term of q.split(/\s+/).filter(Boolean)) {
        const m = /^after:(\d+)$/.exec(term);
        if (m) after = Number(m[1]) * 1000;
        else words.push(term.toLowerCase());
      }
      const hits = store
        .filter(
          (m) =>
            m.internalDate > after && words.every((w) => (m.headers.get('subject') ?? '').toLowerCase().includes(w)),
        )
        .sort((a, b) => b.internalDate - a.internalDate)
        .slice(0, max);
      return sendJson(
        res,
        200,
        hits.length
          ? { messages: hits.map((m) => ({ id: m.id, threadId: m.threadId })), resultSizeEstimate: hits.length }
          : { resultSizeEstimate: 0 },
      );
    }
    const one = new RegExp(`^${base}/messages/([^/]+)$`).exec(url.pathname);
    if (req.method === 'GET' && one) {
      const m = store.find((x) => x.id === one[1]);
      if (!m)
        return sendJson(res, 404, {
          error: {
            code: 404,
            message: 'Requested entity was not found.',
            errors: [{ message: 'Requested entity was not found.', domain: 'global', reason: 'notFound' }],
            status: 'NOT_FOUND',
          },
        });
      const format = url.searchParams.get('format') ?? 'full';
      const wanted = url.searchParams.getAll('metadataHeaders').map((h) => h.toLowerCase());
      const headers = [...m.headers.entries()]
        .filter(([k]) => format !== 'metadata' || wanted.length === 0 || wanted.includes(k))
        .map(([k, v]) => ({
          name: k
            .replace(/(^|-)([a-z])/g, (_s, d: string, c: string) => d + c.toUpperCase())
            .replace('Message-Id', 'Message-ID'),
          value: v,
        }));
      return sendJson(res, 200, {
        id: m.id,
        threadId: m.threadId,
        labelIds: ['INBOX'],
        snippet: m.snippet,
        internalDate: String(m.internalDate),
        sizeEstimate: m.raw.length,
        payload: { mimeType: 'text/plain', headers, ...(format === 'full' ? { body: { size: m.raw.length } } : {}) },
      });
    }
    return sendJson(res, 404, { error: { code: 404, message: 'Not Found', status: 'NOT_FOUND' } });
  });

  return {
    url: server.url,
    sent,
    requests,
    seed(m) {
      const id = nextId();
      const raw = Buffer.from(
        `From: ${m.from}\r\nTo: ${m.to}\r\nSubject: ${m.subject}\r\nDate: ${m.date.toUTCString()}\r\nMessage-ID: ${m.messageId ?? `<${id}@example.com>`}\r\n\r\n${m.snippet ?? ''}\r\n`,
      );
      store.push({
        id,
        threadId: id,
        raw,
        internalDate: m.date.getTime(),
        headers: parseHeaders(raw),
        snippet: m.snippet ?? '',
      });
      return id;
    },
    force(f, times) {
      fault = f;
      faultTimes = times ?? Infinity;
    },
    stop: () => server.stop(),
  };
}
