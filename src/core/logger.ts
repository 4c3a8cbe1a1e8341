/**
 * Structured logging as a dependency. Fields must never carry secret values; `redact()`
 * masks anything that looks like a bearer token or a long opaque secret as a last line of
 * defence.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** JSON lines to a stream (stderr by default), at or above `level`. */
export function jsonLogger(
  level: LogLevel = 'info',
  write: (line: string) => void = (l) => process.stderr.write(l),
): Logger {
  const log =
    (lvl: LogLevel) =>
    (msg: string, fields?: Record<string, unknown>): void => {
      if (ORDER[lvl] < ORDER[level]) return;
      write(redact(JSON.stringify({ t: new Date().toISOString(), level: lvl, msg, ...fields })) + '\n');
    };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

/** Mask bearer tokens, JWT-shaped strings and `*_token=`/`code=` query values. */
export function redact(text: string): string {
  return text
    .replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi, '$1[redacted]')
    .replace(/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, '[redacted-jwt]')
    .replace(
      /([?&](?:code|access_token|refresh_token|id_token|code_verifier|device_code)=)[^&\s"']+/gi,
      '$1[redacted]',
    );
}
