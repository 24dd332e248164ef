/** Bad input or bad usage: reported plainly and, on the CLI, with exit code 2. */
export class InputError extends Error {
  override name = 'InputError';
}

const secrets = new Set<string>();

/** Remembers a secret so that no error message built later can carry it out. */
export function registerSecret(secret: string): void {
  if (secret.length < 4) return; // masking "a" would shred every message
  secrets.add(secret);
  secrets.add(encodeURIComponent(secret));
}

/** Replaces every registered secret in a text with ***. */
export function redact(text: string): string {
  let out = text;
  // Longest first, so that a URL is redacted whole before the password inside it.
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join('***');
  return out;
}

/** The message of any thrown value, with a driver's detail and hint, and secrets stripped. */
export function errorMessage(err: unknown): string {
  const text = err instanceof Error ? err.message || err.name : String(err);
  const { detail, hint } = (err ?? {}) as { detail?: unknown; hint?: unknown };
  const extra = [detail, hint].filter(
    (part): part is string => typeof part === 'string' && part !== ''
  );
  return redact(extra.length ? `${text} (${extra.join('; ')})` : text);
}

/** Wraps an error with context ("Could not create PostgreSQL user on db:5432: ..."). */
export function withContext(context: string, err: unknown): Error {
  const wrapped = new Error(`${context}: ${errorMessage(err)}`);
  if (err instanceof InputError) return new InputError(wrapped.message);
  return wrapped;
}
