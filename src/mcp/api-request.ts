/**
 * MCP tool `api_request`: a call to a connection's provider API through tokenwarden, under the
 * same `api_proxy` allow-list as the daemon's proxy route (integrations/api-proxy.ts). The
 * token is injected here and never shown to the model; the answer is the status and the body
 * (text, cut at 256 KB).
 */
import { z } from 'zod';
import { forwardApiRequest } from '../integrations/api-proxy.js';
import { TokenwardenError } from '../core/errors.js';
import { partsOf, type Warden } from '../warden.js';

const MAX_SHOWN = 256 * 1024;
const TEXTUAL = /^(text\/|application\/([\w.+-]*\+)?(json|xml|javascript|x-www-form-urlencoded)\b)/i;

export const apiRequestInput = {
  connection: z.string().describe('Connection name (its api_proxy must allow the method and path).'),
  method: z
    .enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])
    .optional()
    .describe('HTTP method (default GET).'),
  path: z
    .string()
    .min(1)
    .describe(
      "Path below the connection's api_base with an optional ?query, e.g. /gmail/v1/users/me/messages?maxResults=5.",
    ),
  body: z.string().optional().describe('Request body as text (JSON for most APIs).'),
  content_type: z
    .string()
    .optional()
    .describe('Content-Type of the body (default application/json when a body is given).'),
};

type Input = { [K in keyof typeof apiRequestInput]: z.infer<(typeof apiRequestInput)[K]> };

export async function apiRequest(
  warden: Warden,
  a: Input,
): Promise<{ text: string; structured: Record<string, unknown>; isError?: boolean }> {
  const method = a.method ?? 'GET';
  const q = a.path.indexOf('?');
  const path = q < 0 ? a.path : a.path.slice(0, q);
  if (!path.startsWith('/')) throw new TokenwardenError('TW_BAD_INPUT', 'path must start with /.');
  const headers = new Headers();
  if (a.body !== undefined) headers.set('content-type', a.content_type ?? 'application/json');
  const { response, scrub } = await forwardApiRequest(partsOf(warden), a.connection, {
    method,
    path,
    query: q < 0 ? '' : a.path.slice(q + 1),
    headers,
    body: a.body ?? null,
  });
  const type = response.headers.get('content-type') ?? '';
  const { bytes, truncated } = await readUpTo(response, MAX_SHOWN);
  const textual = type === '' || TEXTUAL.test(type);
  // An API that echoes the request (headers included) must not show the token to the model.
  const body = textual ? scrub(bytes.toString('utf8')) : null;
  const head = `${method} ${a.path} through ${a.connection}: HTTP ${response.status}${truncated ? ` (body cut at ${MAX_SHOWN} bytes)` : ''}.`;
  return {
    text: body !== null ? `${head}\n${body}` : `${head} Binary body (${type}, ${bytes.length} bytes) not shown.`,
    isError: response.status >= 400,
    structured: {
      connection: a.connection,
      method,
      path: a.path,
      status: response.status,
      content_type: type || null,
      body,
      truncated,
    },
  };
}

async function readUpTo(res: Response, max: number): Promise<{ bytes: Buffer; truncated: boolean }> {
  if (!res.body) return { bytes: Buffer.alloc(0), truncated: false };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { bytes: Buffer.concat(chunks), truncated: false };
    chunks.push(value);
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      return { bytes: Buffer.concat(chunks).subarray(0, max), truncated: true };
    }
  }
}
