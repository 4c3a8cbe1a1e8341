/**
 * The QR code of an authorization link drawn for a terminal (half-block characters, two
 * modules per character row), so a phone can open the link `connect` prints. Medium error
 * correction when the link fits, low when only that fits, null when nothing does (a link longer
 * than a QR code holds is shown as text only).
 */

export async function terminalQr(text: string): Promise<string | null> {
  // Loaded only when a QR is drawn: `connect` on a terminal.
  const QRCode = (await import('qrcode')).default;
  for (const level of ['M', 'L'] as const) {
    try {
      return await QRCode.toString(text, { type: 'terminal', small: true, errorCorrectionLevel: level });
    } catch {
      // Too much data for this level: try the next one.
    }
  }
  return null;
}
