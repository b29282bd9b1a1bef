import type { HeaderSpec } from '../tools/types';

/**
 * Whole-file header checks, before any write: every problem is named, so the person fixing the
 * file sees them all at once.
 */
export function checkHeader(header: string[], spec: HeaderSpec, separator: string, acceptAnyName: boolean): string[] {
  const problems: string[] = [];
  const other = separator === ';' ? ',' : ';';
  if (header.length === 1 && header[0].includes(other) && header[0].split(other).length > 1) {
    return [`the header "${header[0]}" is one column when split by "${separator}" but looks separated by "${other}": set csvseparator to "${other}" or fix the file`];
  }
  const seen = new Map<string, number>();
  header.forEach((name, i) => {
    if (name.trim() === '') problems.push(`column ${i + 1} has an empty name`);
    else if (name !== name.trim()) problems.push(`column ${i + 1} "${name}" has spaces around its name`);
    if (seen.has(name)) problems.push(`column "${name}" appears twice (columns ${seen.get(name)! + 1} and ${i + 1})`);
    seen.set(name, i);
  });
  if (!acceptAnyName) {
    const known = new Set([...spec.required, ...spec.optional]);
    const unknown = header.filter((h) => h.trim() !== '' && !known.has(h) && !(spec.patterns ?? []).some((p) => p.test(h)));
    if (unknown.length) {
      problems.push(`unknown column${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `"${u}"`).join(', ')}; accepted: ${[...spec.required, ...spec.optional].join(', ')}${spec.patterns?.length ? ` and ${spec.patterns.map((p) => p.source.replace(/^\^|\$$/g, '')).join(', ')}` : ''}`);
    }
  }
  const missing = spec.required.filter((r) => !header.includes(r));
  if (missing.length) problems.push(`missing required column${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')}`);
  return problems;
}
