/**
 * A reader for the plain subset of YAML that js-yaml's dump writes for registries.yaml (forceQuotes):
 * block mappings with plain keys, block sequences, every value a double-quoted string, comment lines.
 * Every synth reads registries.yaml; js-yaml costs it more to load than all the rest of the reading.
 *
 * It answers only for a document it reads exactly as js-yaml does, and undefined for anything else, be it
 * other YAML or broken YAML: the caller then asks js-yaml, whose result and errors stay the rule (the
 * tests compare the two on many documents, valid and broken). So it is never laxer or stricter.
 */

/**
 * A plain key js-yaml reads as that string: a letter first (no number, date, `.inf`, alias, tag or merge
 * key), then letters, digits, `_`, `.`, `-`, and an optional `:port`.
 */
const KEY = /^[A-Za-z][A-Za-z0-9_.-]*(?::[0-9]+)?$/;
/** The plain words js-yaml's default schema reads as null or a boolean, not as a string. */
const NOT_STRINGS = new Set(['null', 'Null', 'NULL', 'true', 'True', 'TRUE', 'false', 'False', 'FALSE']);
/** Plain words js-yaml quotes when it writes them, since YAML 1.1 reads them as booleans. */
const YAML_11_BOOLEANS = new Set([
  'y',
  'Y',
  'yes',
  'Yes',
  'YES',
  'on',
  'On',
  'ON',
  'n',
  'N',
  'no',
  'No',
  'NO',
  'off',
  'Off',
  'OFF',
]);
/** A double-quoted scalar of printable ASCII with no escape (no `\`, no `"`). */
const QUOTED = /^"([\x20\x21\x23-\x5b\x5d-\x7e]*)"$/;
const MAPPING_ENTRY = /^([^:\s]+(?::[0-9]+)?):(?: (.*))?$/;

interface Block {
  readonly indent: number;
  readonly node: Record<string, unknown> | unknown[];
}

/** The document as js-yaml's `load` would give it, or undefined when it is outside the subset. */
export function parsePlainBlockYaml(text: string): Record<string, unknown> | undefined {
  // Printable ASCII and line feeds only: no tab, carriage return, byte order mark or control character.
  if (!/^[\x20-\x7e\n]*$/.test(text)) return undefined;
  const root: Record<string, unknown> = {};
  const open: Block[] = [{ indent: 0, node: root }];
  let pending: { readonly parent: Record<string, unknown>; readonly key: string; readonly indent: number } | undefined;
  let entries = 0;
  for (const line of text.split('\n')) {
    const content = line.trimStart();
    if (content === '' || content.startsWith('#')) continue;
    const indent = line.length - content.length;
    if (pending !== undefined) {
      // A key without a value: the lines below it, indented further, are its map or list.
      if (indent <= pending.indent) return undefined; // (YAML null: left to js-yaml)
      const node = content.startsWith('- ') ? [] : {};
      pending.parent[pending.key] = node;
      open.push({ indent, node });
      pending = undefined;
    } else {
      while (indent < open[open.length - 1].indent) open.pop();
      if (indent !== open[open.length - 1].indent) return undefined;
    }
    const { node } = open[open.length - 1];
    if (Array.isArray(node)) {
      const item = content.startsWith('- ') ? QUOTED.exec(content.slice(2)) : null;
      if (item === null) return undefined;
      node.push(item[1]);
    } else {
      const entry = MAPPING_ENTRY.exec(content);
      const key = entry?.[1];
      if (entry === null || key === undefined || key.length > 1024) return undefined;
      if (!KEY.test(key) || NOT_STRINGS.has(key) || Object.hasOwn(node, key)) return undefined;
      if (entry[2] === undefined) {
        pending = { parent: node, key, indent };
      } else {
        const value = QUOTED.exec(entry[2]);
        if (value === null) return undefined;
        node[key] = value[1];
      }
    }
    entries++;
  }
  return pending === undefined && entries > 0 ? root : undefined;
}

/**
 * What js-yaml's `dump(value, { lineWidth: -1, forceQuotes: true, quotingType: '"', noRefs: true })` writes
 * for `value`, when `value` is in the subset parsePlainBlockYaml reads (maps and non-empty lists of maps,
 * lists and strings; keys as above; strings of printable ASCII without `"` or `\`); undefined otherwise.
 */
export function renderPlainBlockYaml(value: Record<string, unknown>): string | undefined {
  const lines: string[] = [];
  const writeMap = (map: Record<string, unknown>, indent: string): boolean => {
    const keys = Object.keys(map);
    if (keys.length === 0) return false;
    for (const key of keys) {
      if (key.length > 1024 || !KEY.test(key) || NOT_STRINGS.has(key) || YAML_11_BOOLEANS.has(key)) return false;
      const child = map[key];
      if (typeof child === 'string') {
        if (!QUOTED.test(`"${child}"`)) return false;
        lines.push(`${indent}${key}: "${child}"`);
      } else {
        lines.push(`${indent}${key}:`);
        if (!writeNode(child, `${indent}  `)) return false;
      }
    }
    return true;
  };
  const writeNode = (node: unknown, indent: string): boolean => {
    if (Array.isArray(node)) {
      if (node.length === 0) return false;
      for (const item of node) {
        if (typeof item !== 'string' || !QUOTED.test(`"${item}"`)) return false;
        lines.push(`${indent}- "${item}"`);
      }
      return true;
    }
    const isMap = typeof node === 'object' && node !== null && Object.getPrototypeOf(node) === Object.prototype;
    return isMap && writeMap(node as Record<string, unknown>, indent);
  };
  return writeMap(value, '') ? `${lines.join('\n')}\n` : undefined;
}
