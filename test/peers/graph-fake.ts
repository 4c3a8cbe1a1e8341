/**
 * A fake Microsoft Graph mail API written to Microsoft's published reference: `POST
 * /v1.0/me/sendMail` (JSON message, or MIME as base64 `text/plain`, answering 202 Accepted),
 * `GET /v1.0/me/messages` (`$top`, `$filter=receivedDateTime ge …`, `$orderby`, `$search`),
 * `GET /v1.0/me/messages/{id}`, `GET /v1.0/me`. Errors use Graph's documented shape
 * (https://learn.microsoft.com/graph/errors): `{"error":{"code","message","innerError"}}`,
 * 429/503 with Retry-After; `force(...)` makes the next calls fail with each.
 */
import { randomUUID } from 'node:crypto';
import { bearerOf, listenHttp, parseHeaders, readBody, sendJson } from './http-fake.js';

export type GraphFault = '401' | '403' | '429' | '503' | '400';

export interface GraphFake {
  url: string;
  /** Raw MIME (or JSON) of each accepted sendMail. */
  sent: { raw: Buffer | null; json: unknown; headers: Map<string, string> }[];
  seed(m: { from: string; to: string; subject: string; date: Date; messageId?: string; preview?: string }): string;
  force(fault: GraphFault | null, times?: number): void;
  requests: { method: string; path: string; search: string }[];
  stop(): Promise<void>;
}

function graphError(code: string, message: string): unknown {
  return {
    error: {
      code,
      message,
      innerError: {
        date: new Date().toISOString().slice(0, 19),
        'request-id': randomUUID(),
        'client-request-id': randomUUID(),
      },
    },
  };
}

const ERRORS: Record<GraphFault, { status: number; code: string; message: string; headers?: Record<string, string> }> =
  {
    '401': {
      status: 401,
      code: 'InvalidAuthenticationToken',
      message: 'Access token has expired or is not yet valid.',
    },
    '403': { status: 403, code: 'ErrorAccessDenied', message: 'Access is denied. Check credentials and try again.' },
    '429': {
      status: 429,
      code: 'ApplicationThrottled',
      message: 'Application is over its MailboxConcurrency limit.',
      headers: { 'retry-after': '7' },
    },
    '503': {
      status: 503,
      code: 'ServiceNotAvailable',
      message: 'Service unavailable, please retry later.',
      headers: { 'retry-after': '3' },
    },
    '400': { status: 400, code: 'ErrorInvalidRecipients', message: 'At least one recipient is not valid.' },
  };

interface Stored {
  id: string;
  conversationId: string;
  internetMessageId: string;
  subject: string;
  from: string;
  to: string;
  received: number;
  preview: string;
}

const addr = (a: string): { emailAddress: { name: string; address: string } } => {
  const m = /^(?:"?([^"<]*)"?\s*)?<([^>]+)>$/.exec(a.trim());
  return { emailAddress: { name: (m?.[1] ?? '').trim() || (m?.[2] ?? a), address: m?.[2] ?? a.trim() } };
};

export async function startGraphFake(opts: {
  verifyToken: (token: string) => Promise<boolean>;
  address?: string;
}): Promise<GraphFake> {
  const store: Stored[] = [];
  const sent: GraphFake['sent'] = [];
  const requests: GraphFake['requests'] = [];
  let fault: GraphFault | null = null;
  let faultTimes = Infinity;

  const toJson = (m: Stored): unknown => ({
    id: m.id,
    conversationId: m.conversationId,
    internetMessageId: m.internetMessageId,
    subject: m.subject,
    from: addr(m.from),
    toRecipients: m.to.split(',').map((x) => addr(x)),
    receivedDateTime: new Date(m.received).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    bodyPreview: m.preview,
  });

  const server = await listenHttp(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push({ method: req.method ?? 'GET', path: url.pathname, search: url.search });
    if (fault && faultTimes > 0) {
      const e = ERRORS[fault];
      if (--faultTimes <= 0) fault = null;
      return sendJson(res, e.status, graphError(e.code, e.message), e.headers);
    }
    const token = bearerOf(req);
    if (!token || !(await opts.verifyToken(token))) {
      return sendJson(
        res,
        401,
        graphError(
          'InvalidAuthenticationToken',
          token ? 'Access token validation failure. Invalid audience.' : 'Access token is empty.',
        ),
      );
    }
    if (req.method === 'GET' && url.pathname === '/v1.0/me') {
      const a = opts.address ?? 'agent@example.com';
      return sendJson(res, 200, {
        '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#users/$entity',
        id: randomUUID(),
        displayName: 'Agent',
        mail: a,
        userPrincipalName: a,
      });
    }
    if (req.method === 'POST' && url.pathname === '/v1.0/me/sendMail') {
      const body = await readBody(req);
      const ct = req.headers['content-type'] ?? '';
      if (ct.startsWith('text/plain')) {
        const text = body.toString('ascii').trim();
        if (!/^[A-Za-z0-9+/=\s]+$/.test(text))
          return sendJson(
            res,
            400,
            graphError('ErrorMimeContentInvalidBase64String', 'Invalid base64 string for MIME content.'),
          );
        const raw = Buffer.from(text, 'base64');
        const headers = parseHeaders(raw);
        if (!headers.get('to') && !headers.get('cc') && !headers.get('bcc'))
          return sendJson(res, 400, graphError('ErrorInvalidRecipients', 'At least one recipient is not valid.'));
        sent.push({ raw, json: null, headers });
        return sendJson(res, 202, undefined);
      }
      if (ct.startsWith('application/json')) {
        const json = JSON.parse(body.toString('utf8')) as unknown;
        sent.push({ raw: null, json, headers: new Map() });
        return sendJson(res, 202, undefined);
      }
      return sendJson(res, 415, graphError('UnsupportedMediaType', 'Content type not supported.'));
    }
    if (req.method === 'GET' && url.pathname === '/v1.0/me/messages') {
      const top = Number(url.searchParams.get('$top') ?? '10');
      const filter = url.searchParams.get('$filter');
      const search = url.searchParams.get('$search')?.replace(/^"|"$/g, '').toLowerCase();
      let since = -Infinity;
      if (filter) {
        const m = /^receivedDateTime ge (\S+)$/.exec(filter);
        if (!m) return sendJson(res, 400, graphError('BadRequest', `Invalid filter clause: ${filter}`));
        since = Date.parse(m[1] ?? '');
      }
      const hits = store
        .filter(
          (m) =>
            m.received >= since &&
            (!search || m.subject.toLowerCase().includes(search) || m.preview.toLowerCase().includes(search)),
        )
        .sort((a, b) => b.received - a.received)
        .slice(0, top);
      return sendJson(res, 200, {
        '@odata.context': "https://graph.microsoft.com/v1.0/$metadata#users('me')/messages",
        value: hits.map(toJson),
      });
    }
    const one = /^\/v1\.0\/me\/messages\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && one) {
      const m = store.find((x) => x.id === decodeURIComponent(one[1] ?? ''));
      if (!m)
        return sendJson(res, 404, graphError('ErrorItemNotFound', 'The specified object was not found in the store.'));
      return sendJson(res, 200, toJson(m));
    }
    return sendJson(res, 400, graphError('BadRequest', `Resource not found for the segment '${url.pathname}'.`));
  });

  return {
    url: server.url,
    sent,
    requests,
    seed(m) {
      const id = `AAMk${randomUUID().replace(/-/g, '')}`;
      store.push({
        id,
        conversationId: `AAQk${id.slice(4, 20)}`,
        internetMessageId: m.messageId ?? `<${id.slice(4, 20)}@example.com>`,
        subject: m.subject,
        from: m.from,
        to: m.to,
        received: m.date.getTime(),
        preview: m.preview ?? '',
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
