/**
 * Text from outside (an account name from an ID token, a provider's error description, a mail
 * subject) reaches terminals, chats and mail. Control characters in it could drive the reader's
 * terminal (ESC sequences: hyperlinks to elsewhere, cleared lines, a changed title) or forge
 * lines, so every human-facing output passes it through {@link neutralizeControls} — as the JSON
 * logs do by escaping.
 */

// C0 (U+0000–U+001F), DEL and C1 (U+0080–U+009F).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;
// eslint-disable-next-line no-control-regex -- as above
const CONTROLS_BUT_LINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/**
 * Replace every control character with a visible stand-in: C0 and DEL by their Unicode control
 * pictures (ESC → ␛), C1 by U+FFFD. With `multiline`, line feeds and tabs are kept (a message of
 * several lines); a carriage return is replaced either way (it overwrites what was printed).
 */
export function neutralizeControls(text: string, opts: { multiline?: boolean } = {}): string {
  return text.replace(opts.multiline ? CONTROLS_BUT_LINES : CONTROLS, (c) => {
    const code = c.charCodeAt(0);
    if (code < 0x20) return String.fromCharCode(0x2400 + code);
    if (code === 0x7f) return '\u2421';
    return '\ufffd';
  });
}
