/**
 * QR codes of authorization links. A QR code holds at most 2,953 bytes (version 40, low error
 * correction); longer links are shown as text only, and the image route answers 422, never 500.
 */
import QRCode from 'qrcode';

/** Byte-mode capacity of a version 40 QR code at error correction level L. */
export const QR_MAX_BYTES = 2953;

/** Whether `text` fits in a QR code (byte mode, the mode any URL can use). */
export function qrFits(text: string): boolean {
  return Buffer.byteLength(text, 'utf8') <= QR_MAX_BYTES;
}

/**
 * The QR code of `text` as SVG: medium error correction when it fits, low when only that
 * fits, null when nothing does.
 */
export async function qrSvg(text: string): Promise<string | null> {
  if (!qrFits(text)) return null;
  for (const level of ['M', 'L'] as const) {
    try {
      return await QRCode.toString(text, { type: 'svg', errorCorrectionLevel: level, margin: 2 });
    } catch {
      // Too much data for this level: try the next one.
    }
  }
  return null;
}
