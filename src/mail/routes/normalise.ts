/** Small helpers shared by read routes to produce {@link NormalisedMessage}. */
import addressparser from 'nodemailer/lib/addressparser';

/** `"A" <a@x>, b@y` → [`"A" <a@x>`, `b@y`]. */
export function splitAddressList(v: string | undefined): string[] {
  if (!v) return [];
  return addressparser(v, { flatten: true }).map((a) =>
    a.name ? `${a.name} <${a.address ?? ''}>` : (a.address ?? ''),
  );
}

export function formatAddress(a: { name?: string | undefined; address?: string | undefined }): string {
  return a.name ? `${a.name} <${a.address ?? ''}>` : (a.address ?? '');
}
