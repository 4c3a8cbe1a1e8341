/**
 * Pure parser for what a human pastes back after authorizing: the final redirect URL (as a
 * browser address bar shows it, often wrapped in chat formatting) or just the code.
 *
 * The parser never throws and never decides whether the code is *valid* — only whether the
 * text carries exactly one authorization response. Matching `state` to an open flow is the
 * flow manager's job.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2 (authorization response)
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1 (error response)
 * @see https://openid.net/specs/oauth-v2-multiple-response-types-1_0.html#ResponseModes (fragment)
 */

export type ParsedPaste =
  | {
      kind: 'redirect';
      url: URL;
      state: string | null;
      code: string | null;
      error: string | null;
      errorDescription: string | null;
    }
  | { kind: 'code'; code: string }
  | { kind: 'invalid'; reason: string };

export interface ParsePasteOptions {
  /** Longest accepted paste in characters (default 8 KiB). */
  maxLength?: number;
}

export const DEFAULT_MAX_PASTE_LENGTH = 8 * 1024;
const MIN_CODE_LENGTH = 4;
const MAX_CODE_LENGTH = 2048;

/** C0 controls except tab/newline/carriage return, DEL, C1 controls. */
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;
/** Invisible characters chat clients and copy-paste insert; they carry no meaning. */
const INVISIBLE_CHARS = /[\u200B-\u200D\u2060\uFEFF]/g;
/**
 * A URL with a scheme (`https://…`, `com.example.app://…`), or a loopback address typed
 * without one (`127.0.0.1:7465/oauth/callback?…`). Stops at whitespace and at characters that
 * chat formatting wraps URLs in.
 */
const URL_PATTERN =
  /(?:\b[A-Za-z][A-Za-z0-9+.-]{0,31}:\/\/(?:\[[0-9A-Fa-f:.]+\])?|\b(?:localhost|127\.0\.0\.1)(?::\d{1,5})?\/|\[::1\](?::\d{1,5})?\/)[^\s<>"'`[\]{}|\\^]*/g;
/** Punctuation that ends a sentence or closes formatting, not the URL or the code. */
const TRAILING_PUNCTUATION = /[.,;:!?*]$/;
const SENTENCE_END = /[.,;:!?]$/;
/** Characters that appear in authorization codes of real providers (`4/0AX…`, `M.R3_BAY.…`). */
const CODE_CHARS = /^[A-Za-z0-9\-._~/+=%]+$/;
/** Formatting pairs a chat client or the human wraps a bare code in. */
const WRAPPER_PAIRS: ReadonlyArray<readonly [string, string]> = [
  ['```', '```'],
  ['`', '`'],
  ['"', '"'],
  ["'", "'"],
  ['\u201C', '\u201D'],
  ['\u2018', '\u2019'],
  ['<', '>'],
  ['(', ')'],
  ['[', ']'],
  ['**', '**'],
  ['*', '*'],
  ['__', '__'],
  ['_', '_'],
];

/**
 * Parse a paste into a redirect, a bare code, or a specific reason why it is neither.
 *
 * @example parsePaste('here: `http://127.0.0.1:7465/cb?code=abc&state=xyz`.')
 */
export function parsePaste(text: string, opts: ParsePasteOptions = {}): ParsedPaste {
  const maxLength = opts.maxLength ?? DEFAULT_MAX_PASTE_LENGTH;
  if (typeof text !== 'string') return invalid('the paste is not text');
  if (text.length > maxLength)
    return invalid(`the paste is too long (${text.length} characters; at most ${maxLength} are accepted)`);
  if (CONTROL_CHARS.test(text)) return invalid('the paste contains control characters');
  const cleaned = text.replace(INVISIBLE_CHARS, '').trim();
  if (cleaned === '') return invalid('the paste is empty');

  const urls = findUrls(cleaned);
  if (urls.length > 0) return fromUrls(urls);
  return fromBareText(cleaned);
}

function invalid(reason: string): ParsedPaste {
  return { kind: 'invalid', reason };
}

/** Every URL in the text, trimmed of trailing punctuation and unbalanced brackets. */
function findUrls(text: string): URL[] {
  const found: URL[] = [];
  for (const match of text.matchAll(URL_PATTERN)) {
    let raw = trimUrl(match[0]).replace(/&amp;/g, '&');
    if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(raw)) raw = `http://${raw}`;
    const url = safeUrl(raw);
    if (url) found.push(url);
  }
  return found;
}

function trimUrl(raw: string): string {
  let s = raw;
  for (;;) {
    if (TRAILING_PUNCTUATION.test(s)) {
      s = s.slice(0, -1);
      continue;
    }
    // A closing parenthesis belongs to the URL only when it balances an opening one inside it.
    if (s.endsWith(')') && count(s, '(') < count(s, ')')) {
      s = s.slice(0, -1);
      continue;
    }
    return s;
  }
}

function count(s: string, ch: string): number {
  let n = 0;
  for (const c of s) if (c === ch) n++;
  return n;
}

function safeUrl(raw: string): URL | null {
  try {
    return new URL(raw);
  } catch {
    return null;
  }
}

interface Response {
  url: URL;
  params: URLSearchParams;
}

/** The authorization response parameters: the query, else the fragment (`#code=…`, `#/cb?code=…`). */
function responseParams(url: URL): URLSearchParams | null {
  const has = (p: URLSearchParams): boolean => p.has('code') || p.has('error');
  if (has(url.searchParams)) return url.searchParams;
  const hash = url.hash.replace(/^#/, '');
  if (hash) {
    const q = hash.indexOf('?');
    const fragment = new URLSearchParams(q >= 0 ? hash.slice(q + 1) : hash);
    if (has(fragment)) return fragment;
  }
  return null;
}

function fromUrls(urls: URL[]): ParsedPaste {
  const responses: Response[] = [];
  for (const url of urls) {
    const params = responseParams(url);
    if (params) responses.push({ url, params });
  }
  if (responses.length === 0)
    return invalid(
      'the URL has neither a code nor an error: paste the full address the browser ended on after you approved',
    );
  const distinct = new Map<string, Response>();
  for (const r of responses) {
    const key = JSON.stringify([r.params.get('code'), r.params.get('error'), r.params.get('state')]);
    if (!distinct.has(key)) distinct.set(key, r);
  }
  if (distinct.size > 1) return invalid('the paste holds several different URLs with codes: paste only one');
  const [only] = distinct.values();
  if (!only) return invalid('the paste holds no authorization response');
  const { url, params } = only;
  return {
    kind: 'redirect',
    url,
    state: params.get('state'),
    code: nonEmpty(params.get('code')),
    error: nonEmpty(params.get('error')),
    errorDescription: params.get('error_description'),
  };
}

function nonEmpty(v: string | null): string | null {
  return v === null || v === '' ? null : v;
}

function fromBareText(text: string): ParsedPaste {
  const s = unwrap(text);
  if (s === '') return invalid('the paste is empty');
  if (/\s/.test(s))
    return invalid('that looks like a sentence, not a code: paste the whole redirect URL or just the code');
  if (s.startsWith('/')) return invalid('that is a bot command, not a code: paste the redirect URL');
  if (!CODE_CHARS.test(s)) return invalid('that is not a code: it has characters authorization codes never use');
  if (s.length < MIN_CODE_LENGTH)
    return invalid(`that is too short to be a code (at least ${MIN_CODE_LENGTH} characters)`);
  if (s.length > MAX_CODE_LENGTH)
    return invalid(`that is too long to be a code (at most ${MAX_CODE_LENGTH} characters)`);
  // A single ordinary word ("thanks", "Done") is a human talking, not a code.
  if (/^[A-Za-z][a-z]*$/.test(s) && s.length < 20) return invalid('that is a word, not a code: paste the redirect URL');
  return { kind: 'code', code: decodeCode(s) };
}

/** Strip trailing sentence punctuation and matched formatting pairs, outside in. */
function unwrap(text: string): string {
  let s = text.trim();
  for (let changed = true; changed;) {
    changed = false;
    while (SENTENCE_END.test(s)) {
      s = s.slice(0, -1).trimEnd();
      changed = true;
    }
    for (const [open, close] of WRAPPER_PAIRS) {
      if (s.length >= open.length + close.length && s.startsWith(open) && s.endsWith(close)) {
        // A fenced block may name a language on its first line: ```text\nCODE\n```
        s = s.slice(open.length, s.length - close.length);
        if (open === '```') s = s.replace(/^[A-Za-z]*\n/, '');
        s = s.trim();
        changed = true;
        break;
      }
    }
  }
  return s;
}

/** A code copied out of a URL may still be percent-encoded (`4%2F0AX…`). */
function decodeCode(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
