/**
 * `connect`'s terminal QR code: the drawing read back module by module is the QR code of the
 * link (so a phone scanning it opens that link), with a light border; a link longer than any QR
 * code holds draws nothing rather than failing.
 */
import QRCode from 'qrcode';
import { describe, expect, it } from 'vitest';
import { terminalQr } from '../../src/cli/terminal-qr.js';

/** Dark or light per module, read from the half-block drawing (two module rows per text line). */
function readBack(drawing: string, size: number): boolean[][] {
  // eslint-disable-next-line no-control-regex
  const lines = drawing.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
  const halves: Record<string, [boolean, boolean]> = {
    ' ': [false, false],
    '▄': [false, true],
    '▀': [true, false],
    '█': [true, true],
  };
  const rows: boolean[][] = [];
  // Text line r holds module rows 2r - 1 (top half) and 2r (bottom half); row -1 is the border.
  for (let y = -1; y < size; y++) {
    const line = [...(lines[Math.floor((y + 1) / 2)] ?? '')];
    const row: boolean[] = [];
    for (let x = -1; x <= size; x++) {
      const cell = halves[line[x + 1] ?? ''];
      if (!cell) throw new Error(`unexpected character at module ${x},${y}: ${JSON.stringify(line[x + 1])}`);
      row.push(cell[(y + 1) % 2] === true);
    }
    rows.push(row);
  }
  return rows;
}

describe('terminalQr', () => {
  it('draws the QR code of the link, with a light border', async () => {
    const url =
      'http://127.0.0.1:7465/authorize?client_id=tokenwarden&state=Zq3J1x8r0Vb2&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
    const drawing = await terminalQr(url);
    expect(drawing).not.toBeNull();
    const expected = QRCode.create(url, { errorCorrectionLevel: 'M' }).modules;
    const got = readBack(drawing ?? '', expected.size);
    let dark = 0;
    // Rows -1 (border) to size - 1; the bottom border row shares a text line with nothing when
    // the size is odd and is drawn in the terminal's colours, so it is not read back.
    for (let y = -1; y < expected.size; y++)
      for (let x = -1; x <= expected.size; x++) {
        const inside = x >= 0 && y >= 0 && x < expected.size;
        const want = inside && Boolean(expected.get(y, x));
        expect(got[y + 1]?.[x + 1], `module ${x},${y}`).toBe(want);
        if (want) dark++;
      }
    expect(dark).toBeGreaterThan(expected.size * 4);
  });

  it('draws nothing for a link longer than a QR code holds', async () => {
    expect(await terminalQr(`http://127.0.0.1/${'x'.repeat(3000)}`)).toBeNull();
  });
});
