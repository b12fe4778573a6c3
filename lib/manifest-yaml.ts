/**
 * A reader for the YAML cdk8s synth writes for Kubernetes manifests: documents split by `---`, each a block
 * mapping (two-space indents, sequences indented under their key), plain keys, and as values plain words,
 * booleans, decimal integers, JSON-style double-quoted or single-quoted strings on one line, `{}`, `[]`, and literal
 * block scalars (`|`, `|-`). doctor compares dist/ with the material on every run; js-yaml costs it more to
 * load and warm up than the rest of its checks.
 *
 * Like block-yaml.ts it answers only for text it reads exactly as js-yaml's `loadAll` does, and undefined
 * for anything else, be it other YAML or broken YAML: the caller then asks js-yaml, whose result and errors
 * stay the rule (the tests compare the two on many documents, valid and broken). So it is never laxer or
 * stricter.
 */

/** A plain key js-yaml reads as that string (Kubernetes names, labels, annotations, data keys). */
const KEY = /^[A-Za-z][A-Za-z0-9_./-]*$/;
/** `key:` or `key: value`. */
const MAPPING_ENTRY = /^([^:\s]+):(?: (.*))?$/;
/** The plain words js-yaml's default schema reads as null or a boolean, not as a string. */
const NOT_STRINGS = new Set(['null', 'Null', 'NULL', 'true', 'True', 'TRUE', 'false', 'False', 'FALSE']);
/** The booleans among them. */
const BOOLEANS: ReadonlyMap<string, boolean> = new Map([
  ['true', true],
  ['True', true],
  ['TRUE', true],
  ['false', false],
  ['False', false],
  ['FALSE', false],
]);
/** A decimal integer that a double holds exactly: js-yaml reads it as that number. */
const INTEGER = /^(?:0|[1-9][0-9]{0,14})$/;
/**
 * What ends a plain scalar early or is read otherwise: a comment (`#`, kept out whole), `: ` inside, `:`
 * at the end, a space at the end. (Its first character is checked apart: a letter, `/`, a digit, or `-` before a letter.)
 */
const PLAIN_UNSAFE = /#|: |:$| $/;
/**
 * A character no number holds makes a word beginning with a digit a string (`10Gi`, `50m`, a SHA-256 in
 * hex, `0.0.0.0:5000`, `0 3 * * 0`), unless it begins like a date (a timestamp) or like 0x, 0o, 0b (whose
 * ints hold letters). js-yaml's decimal ints hold digits and `_`, its floats digits, `.`, e, E and signs.
 */
const NOT_NUMERIC = /[^0-9_.eE+-]/;
const OTHER_BASE = /^0[xob]/;
const DATE_START = /^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}/;
/** A double-quoted scalar JSON reads as YAML does: printable ASCII, JSON's escapes (a subset of YAML's). */
const DOUBLE_QUOTED = /^"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\/bfnrt]|\\u[0-9A-Fa-f]{4})*"$/;
/** A single-quoted scalar: `''` stands for one quote. */
const SINGLE_QUOTED = /^'((?:[\x20-\x26\x28-\x7e]|'')*)'$/;

interface Line {
  readonly indent: number;
  /** The line without its indent. */
  readonly content: string;
}

/** Thrown inside the reader when the text is outside the subset; never leaves it. */
class OutsideSubset extends Error {}

/** The documents as js-yaml's `loadAll` would give them, or undefined when the text is outside the subset. */
export function parseManifestYaml(text: string): Record<string, unknown>[] | undefined {
  // Printable ASCII and line feeds only: no tab, carriage return, byte order mark or control character.
  if (!/^[\x20-\x7e\n]*$/.test(text)) return undefined;
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines[0] === '---') lines.shift();
  const documents: Record<string, unknown>[] = [];
  let start = 0;
  try {
    for (let index = 0; index <= lines.length; index++) {
      if (index < lines.length && lines[index] !== '---') continue;
      documents.push(new DocumentReader(lines.slice(start, index)).document());
      start = index + 1;
    }
  } catch (error) {
    if (error instanceof OutsideSubset) return undefined;
    throw error;
  }
  return documents;
}

/** One document: a block mapping at indent 0. */
class DocumentReader {
  private next = 0;

  constructor(private readonly lines: readonly string[]) {}

  document(): Record<string, unknown> {
    const first = this.peek();
    if (first === undefined || first.indent !== 0) throw new OutsideSubset();
    const root = this.mapping(0);
    if (this.peek() !== undefined) throw new OutsideSubset();
    return root;
  }

  /** The next line that is not empty; a line of spaces or a comment is outside the subset. */
  private peek(): Line | undefined {
    while (this.next < this.lines.length && this.lines[this.next] === '') this.next++;
    if (this.next === this.lines.length) return undefined;
    const line = this.lines[this.next];
    const content = line.trimStart();
    if (content === '' || content.startsWith('#')) throw new OutsideSubset();
    return { indent: line.length - content.length, content };
  }

  /** The entries at `indent`, the first of which may already be consumed up to `first` (a `- key: value`). */
  private mapping(indent: number, first?: string): Record<string, unknown> {
    const map: Record<string, unknown> = {};
    let entry = first;
    for (;;) {
      if (entry === undefined) {
        const line = this.peek();
        if (line === undefined || line.indent < indent) return map;
        if (line.indent > indent) throw new OutsideSubset();
        entry = line.content;
        this.next++;
      }
      const match = MAPPING_ENTRY.exec(entry);
      const key = match?.[1];
      if (match === null || key === undefined || key.length > 1024 || !KEY.test(key) || NOT_STRINGS.has(key))
        throw new OutsideSubset();
      if (Object.hasOwn(map, key)) throw new OutsideSubset(); // js-yaml refuses a repeated key
      map[key] = match[2] === undefined ? this.nested(indent) : this.value(match[2], indent);
      entry = undefined;
    }
  }

  /** The block node under a `key:` at `indent`: a mapping or a sequence, indented further. */
  private nested(indent: number): unknown {
    const line = this.peek();
    if (line === undefined || line.indent <= indent) throw new OutsideSubset(); // null, or a sequence not indented
    return line.content.startsWith('- ') ? this.sequence(line.indent) : this.mapping(line.indent);
  }

  /** The `- item` lines at `indent`. */
  private sequence(indent: number): unknown[] {
    const items: unknown[] = [];
    for (;;) {
      const line = this.peek();
      if (line === undefined || line.indent < indent) return items;
      if (line.indent > indent || !line.content.startsWith('- ')) throw new OutsideSubset();
      this.next++;
      const item = line.content.slice(2);
      if (MAPPING_ENTRY.test(item)) items.push(this.mapping(indent + 2, item));
      else if (item.startsWith('|')) throw new OutsideSubset();
      else items.push(this.value(item, indent));
    }
  }

  /** A value on the line of its key (at `indent`), or a literal block scalar starting there. */
  private value(text: string, indent: number): unknown {
    if (text === '|' || text === '|-') return this.literal(indent, text === '|-');
    if (text === '{}') return {};
    if (text === '[]') return [];
    if (text.startsWith('"')) {
      if (!DOUBLE_QUOTED.test(text)) throw new OutsideSubset();
      return JSON.parse(text) as string;
    }
    const single = SINGLE_QUOTED.exec(text);
    if (single !== null) return single[1].replace(/''/g, "'");
    return plainScalar(text);
  }

  /** The lines of a `|` (clip) or `|-` (strip) block scalar under a key at `indent`. */
  private literal(indent: number, strip: boolean): string {
    const first = this.lines[this.next];
    const contentIndent = first === undefined ? 0 : first.length - first.trimStart().length;
    // An empty first line, or one not indented past the key: js-yaml's rules for those are left to it.
    if (first === undefined || first.trim() === '' || contentIndent <= indent) throw new OutsideSubset();
    const content: string[] = [];
    while (this.next < this.lines.length) {
      const line = this.lines[this.next];
      if (line === '') content.push('');
      else if (line.trim() === '')
        throw new OutsideSubset(); // spaces only: they may be content
      else if (line.length - line.trimStart().length < contentIndent) break;
      else content.push(line.slice(contentIndent));
      this.next++;
    }
    while (content[content.length - 1] === '') content.pop();
    return strip ? content.join('\n') : `${content.join('\n')}\n`;
  }
}

/** A plain scalar as js-yaml reads it: a string, a boolean or a decimal integer; anything else is left to js-yaml. */
function plainScalar(text: string): string | number | boolean {
  if (INTEGER.test(text)) return Number(text);
  const boolean = BOOLEANS.get(text);
  if (boolean !== undefined) return boolean;
  if (text === '' || PLAIN_UNSAFE.test(text) || NOT_STRINGS.has(text)) throw new OutsideSubset();
  const first = text.charCodeAt(0);
  const isLetter = (first >= 0x41 && first <= 0x5a) || (first >= 0x61 && first <= 0x7a);
  if (isLetter || text[0] === '/') return text;
  // A flag (`--namespace`, `-c`): a `-` not before a space (a sequence entry) or a digit or `.` (a number).
  if (text[0] === '-' && /^-[A-Za-z-]/.test(text)) return text;
  const isDigit = first >= 0x30 && first <= 0x39;
  if (isDigit && NOT_NUMERIC.test(text) && !OTHER_BASE.test(text) && !DATE_START.test(text)) return text;
  throw new OutsideSubset();
}
