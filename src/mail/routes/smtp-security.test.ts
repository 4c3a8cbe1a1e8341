import { describe, expect, it } from 'vitest';
import { smtpTransportSecurity } from './smtp.js';

describe('SMTP transport security', () => {
  it.each([
    [
      { host: 'smtp.gmail.com', port: 465 },
      { secure: true, requireTLS: false, ignoreTLS: false },
    ],
    [
      { host: 'smtp.gmail.com', port: 587 },
      { secure: false, requireTLS: true, ignoreTLS: false },
    ],
    [
      { host: 'smtp.example.com', port: 25 },
      { secure: false, requireTLS: true, ignoreTLS: false },
    ],
    [
      { host: 'smtp.example.com', port: 25, starttls: false },
      { secure: false, requireTLS: false, ignoreTLS: true },
    ],
    [
      { host: '127.0.0.1', port: 2525 },
      { secure: false, requireTLS: false, ignoreTLS: false },
    ],
    [
      { host: 'localhost', port: 2525, starttls: true },
      { secure: false, requireTLS: true, ignoreTLS: false },
    ],
  ])('%o → %o', (input, expected) => {
    expect(smtpTransportSecurity(input)).toEqual(expected);
  });
});
