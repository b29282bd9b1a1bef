/**
 * Moodle's tables compare text with utf8mb4_unicode_ci: `shortname = 'abc'` finds "ABC", and "Ecole"
 * finds "École". Lookups a chunk answers from memory use this key so they find what the database
 * (and so Moodle's get_record) finds: case and accents folded, trailing spaces ignored (PAD SPACE).
 */
export const sqlKey = (s: string): string => s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase().replace(/ +$/, '');
