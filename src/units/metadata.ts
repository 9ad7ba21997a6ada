/**
 * Machine metadata as units can match it (`[X-Fleet] MachineMetadata=key=value`): a key or value that no
 * unit file can express would be stored and never matched, so it is refused where metadata is set
 * (shoald's config, `shoalctl set-metadata`, the API). Pure.
 */

/** Keys: letters, digits, `_ . -` (what MachineMetadata= items and SHOAL_METADATA can name). */
const KEY = /^[A-Za-z0-9_.-]+$/;

/**
 * Why `key=value` cannot be matched by any unit, or undefined when it can. A MachineMetadata= item is
 * split at its one `=` (fleet's rule) and its `"` are quoting, so a value may not hold `=` or `"`;
 * it is one line of a unit file, so no control characters; and it is not empty.
 */
export function metadataProblem(key: string, value: string): string | undefined {
  if (!KEY.test(key)) return `metadata key ${JSON.stringify(key)}: use letters, digits, '_', '.', '-'`;
  if (value === '') return `metadata ${key}: the value is empty (unset-metadata removes a key)`;
  if (value.includes('=')) {
    return `metadata ${key}=${value}: the value holds '=', which no unit can match (MachineMetadata= items are key=value with one '=')`;
  }
  if (value.includes('"')) return `metadata ${key}=${value}: the value holds '"', which unit files read as quoting`;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(value)) return `metadata ${key}: the value holds a control character`;
  return undefined;
}
