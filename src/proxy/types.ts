/** Shapes shared by the SMTP and IMAP proxies. */

export interface ProxyTls {
  mode: 'implicit' | 'starttls';
  cert: Buffer;
  key: Buffer;
}

export interface RunningProxy {
  name: string;
  protocol: 'smtp' | 'imap';
  /** Bound address and port (the actual port when 0 was asked). */
  host: string;
  port: number;
  close(): Promise<void>;
}
