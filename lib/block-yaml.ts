/**
 * A reader for the plain subset of YAML that js-yaml's dump writes for registries.yaml (forceQuotes):
 * block mappings with plain keys, block sequences, every value a double-quoted string, comment lines.
 * Every synth reads registries.yaml; js-yaml costs it more to load than all the rest of the reading.
 *
 * It answers only for a document it reads exactly as js-yaml does, and undefined for anything else, be it
 * other YAML or broken YAML: the caller then asks js-yaml, whose result and errors stay the rule (the
 * tests compare the two on many documents, valid and broken). So it is never laxer or stricter. The
 * writers likewise write only what js-yaml's dump would, byte for byte, and leave the rest to it.
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
/** A string js-yaml's dump writes plain, unless it is a word YAML reads as another type (NOT_STRINGS, YAML_11_BOOLEANS). */
const PLAIN_WORD = /^[A-Za-z/][A-Za-z0-9_./:*@+=-]*$/;
/**
 * The same characters after a digit (`127.0.0.1:31113:31113`): plain when YAML reads no number or date in
 * it. A character no int or float holds settles that, unless the word begins like 0x/0o/0b (ints with
 * letters) or a date, or is a YAML 1.1 base-60 number, which js-yaml quotes.
 */
const DIGIT_WORD = /^[0-9][A-Za-z0-9_./:*@+=-]*$/;
const NOT_NUMERIC = /[^0-9_.eE+-]/;
const NUMBER_OR_DATE_START = /^(?:0[xob]|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2})/;
const BASE_60 = /^[0-9_]+(?::[0-9_]+)+(?:\.[0-9_]*)?$/;
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

/**
 * What js-yaml's `dump(value, { lineWidth: -1, noRefs: true })` writes for `value` (k3d's config), when it is
 * maps and non-empty lists of maps, lists, non-negative integers and strings that js-yaml writes plain (a
 * letter, `/` or digit, then letters, digits and `_./:*@+=-`, no `:` at the end, not a word YAML reads as
 * another type) or single-quoted (a flag like `--private-registry=...`: printable ASCII after a `-`); undefined
 * otherwise. k3d-config prints its config on every run; js-yaml costs it more to load than the rest.
 */
export function renderPlainYaml(value: Record<string, unknown>): string | undefined {
  const lines: string[] = [];
  const scalar = (node: unknown): string | undefined => {
    // -0 passes `>= 0` but js-yaml writes it as -0.0: left to js-yaml, like every other number not a plain count.
    if (typeof node === 'number')
      return Number.isSafeInteger(node) && node >= 0 && !Object.is(node, -0) ? String(node) : undefined;
    if (typeof node !== 'string' || NOT_STRINGS.has(node) || YAML_11_BOOLEANS.has(node)) return undefined;
    if (node.endsWith(':')) return undefined;
    if (PLAIN_WORD.test(node)) return node;
    const numberLike = !NOT_NUMERIC.test(node) || NUMBER_OR_DATE_START.test(node) || BASE_60.test(node);
    if (DIGIT_WORD.test(node) && !numberLike) return node;
    return /^-[\x20-\x7e]*$/.test(node) ? `'${node.replace(/'/g, "''")}'` : undefined;
  };
  const isMap = (node: unknown): node is Record<string, unknown> =>
    typeof node === 'object' && node !== null && Object.getPrototypeOf(node) === Object.prototype;
  /** The map's entries, the first one after `firstPrefix` (`- ` in a list), the others after `indent`. */
  const writeMap = (map: Record<string, unknown>, indent: string, firstPrefix = indent): boolean => {
    const keys = Object.keys(map);
    if (keys.length === 0) return false;
    return keys.every((key, index) => {
      const prefix = index === 0 ? firstPrefix : indent;
      const child = map[key];
      if (scalar(key) !== key) return false;
      if (isMap(child)) {
        lines.push(`${prefix}${key}:`);
        return writeMap(child, `${indent}  `);
      }
      if (Array.isArray(child)) {
        lines.push(`${prefix}${key}:`);
        return writeList(child, `${indent}  `);
      }
      const text = scalar(child);
      if (text === undefined) return false;
      lines.push(`${prefix}${key}: ${text}`);
      return true;
    });
  };
  const writeList = (list: unknown[], indent: string): boolean =>
    list.length > 0 &&
    list.every((item) => {
      if (isMap(item)) return writeMap(item, `${indent}  `, `${indent}- `);
      const text = scalar(item);
      if (text === undefined) return false;
      lines.push(`${indent}- ${text}`);
      return true;
    });
  return writeMap(value, '') ? `${lines.join('\n')}\n` : undefined;
}
