/**
 * Moodle's tables compare text with utf8mb4_unicode_ci: `shortname = 'abc'` finds "ABC", and "Ecole"
 * finds "École". Lookups a chunk answers from memory use this key so they find what the database
 * (and so Moodle's get_record) finds: case and accents folded, trailing spaces ignored (PAD SPACE).
 */
export const sqlKey = (s: string): string => s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase().replace(/ +$/, '');

/**
 * One key for every way a file may name the same record: as `sqlKey`, and a number with or
 * without leading zeros ("012" finds id 12).
 */
export function identityKey(value: string): string {
  const s = value.trim();
  if (/^\d+$/.test(s)) return String(BigInt(s));
  // Most identifiers are ASCII: nothing to fold but case.
  return /^[\x20-\x7e]*$/.test(s) ? s.toLowerCase() : sqlKey(s);
}
