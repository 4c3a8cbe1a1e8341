/**
 * Tests talk only to 127.0.0.1 servers they start: a proxy set in the developer's environment
 * must not sit between them (tokenwarden honours these variables, loopback included). Tests
 * that exercise proxies pass their own variables explicitly.
 */
for (const name of [
  'http_proxy',
  'HTTP_PROXY',
  'https_proxy',
  'HTTPS_PROXY',
  'all_proxy',
  'ALL_PROXY',
  'no_proxy',
  'NO_PROXY',
])
  delete process.env[name];
