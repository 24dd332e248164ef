/**
 * Percent-decodes URL text, or keeps it as written when it is not valid percent-encoding
 * (a password such as `50%off`, which the drivers accept as it stands).
 */
export function percentDecoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
