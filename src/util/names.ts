import { createHash, randomBytes, randomInt } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** Room a generated name needs besides the prefix: `_` + 8 hash + `_` + 8 random. */
export const NAME_SUFFIX_LENGTH = 18;

/**
 * A user name that says which run made it without containing any claim text:
 * `<prefix>_<hash of run identity>_<random>`, only [a-z0-9_].
 */
export function makeUsername(prefix: string, runKey: string): string {
  const hash = createHash('sha256').update(runKey).digest('hex').slice(0, 8);
  let random = '';
  for (let i = 0; i < 8; i++) random += ALPHABET[randomInt(ALPHABET.length)];
  return `${prefix}_${hash}_${random}`;
}

/** A strong URL-safe password: 32 random bytes, base64url (43 characters, 256 bits). */
export function makePassword(): string {
  return randomBytes(32).toString('base64url');
}
