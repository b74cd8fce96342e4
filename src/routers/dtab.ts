/**
 * Finagle delegation tables (dtabs), as namerd stores them and Linkerd 1 reads them.
 *
 * Grammar (twitter/finagle NameTreeParsers.scala; `&` binds tighter than `|`):
 *   dtab     := [dentry (';' dentry)* [';']]
 *   dentry   := prefix '=>' tree
 *   tree     := tree1 ('|' tree1)*          alternation: first non-negative branch wins
 *   tree1    := weighted ('&' weighted)*    union: load-balanced by weight
 *   weighted := [number '*'] simple         number is digits and at most one '.', default 1
 *   simple   := '(' tree ')' | path | '!' | '~' | '$'
 *   path     := '/' | ('/' label)+          prefixes may also use '*' as an element
 *   label    := ([0-9A-Za-z_:.#$%-] | '\x' hex hex)+
 * Whitespace and `#` comments (to end of line) are allowed between tokens; `#` inside a label is a
 * label character (`/#/io.l5d.k8s`), exactly as in Finagle.
 *
 * Pure functions only: parsing, printing, semantic comparison and the rollout-specific helpers.
 */

/** Path labels in Finagle's shown form: showable characters as is, anything else as `\xHH` escapes. */
export type Path = readonly string[];
/** A dentry prefix: like a Path, but an element may be `*` (matches any one label). */
export type Prefix = readonly string[];
/** The prefix element that matches any label. A literal `*` label can only be written `\x2a`. */
export const ANY_ELEM = "*";

export type Weighted = { readonly weight: number; readonly tree: NameTree };

export type NameTree =
  | { readonly kind: "leaf"; readonly path: Path }
  | { readonly kind: "alt"; readonly trees: readonly NameTree[] }
  | { readonly kind: "union"; readonly branches: readonly Weighted[] }
  | { readonly kind: "fail" } // `!`: stop resolving, fail the request
  | { readonly kind: "neg" } // `~`: no destination here, fall through
  | { readonly kind: "empty" }; // `$`: exists but has no endpoints

export type Dentry = { readonly prefix: Prefix; readonly tree: NameTree };
export type Dtab = readonly Dentry[];

export const FAIL: NameTree = { kind: "fail" };
export const NEG: NameTree = { kind: "neg" };
export const EMPTY: NameTree = { kind: "empty" };
export const DEFAULT_WEIGHT = 1;

export const leaf = (path: Path | string): NameTree => ({
  kind: "leaf",
  path: typeof path === "string" ? parsePath(path) : path,
});
export const alt = (...trees: NameTree[]): NameTree => ({ kind: "alt", trees });
export const union = (...branches: Weighted[]): NameTree => ({ kind: "union", branches });

// ---------------------------------------------------------------------------------------------------
// Parsing

/** A dtab (or path, tree, dentry) that does not parse: where, what was expected and what was found. */
export class DtabParseError extends Error {
  readonly line: number;
  readonly column: number;
  /** Description of what was found: a quoted character, or `end of input`. */
  readonly found: string;

  constructor(
    /** The whole text being parsed. */
    readonly input: string,
    /** 0-based offset of the offending character (input.length at end of input). */
    readonly offset: number,
    /** What the parser wanted here, e.g. `'=>'` or `a path, '(', '!', '~' or '$'`. */
    readonly expected: string,
  ) {
    const { line, column, text, col0 } = locate(input, offset);
    const found = offset >= input.length ? "end of input" : describeChar(input[offset]!);
    super(`expected ${expected} but found ${found} at line ${line}, column ${column}: ${excerpt(text, col0)}`);
    this.name = "DtabParseError";
    this.line = line;
    this.column = column;
    this.found = found;
  }
}

function describeChar(c: string): string {
  if (c === "\n") return "a line break";
  if (/\s/.test(c)) return "whitespace";
  return `'${c}'`;
}

function locate(input: string, offset: number) {
  const before = input.slice(0, offset);
  const line = before.split("\n").length;
  const lineStart = before.lastIndexOf("\n") + 1;
  const lineEnd = input.indexOf("\n", offset) === -1 ? input.length : input.indexOf("\n", offset);
  return { line, column: offset - lineStart + 1, text: input.slice(lineStart, lineEnd), col0: offset - lineStart };
}

/** The offending line with the bad character in brackets (Finagle's style), cut to a readable width. */
function excerpt(text: string, col0: number): string {
  const marked = `${text.slice(0, col0)}[${text.slice(col0, col0 + 1)}]${text.slice(col0 + 1)}`;
  const from = Math.max(0, col0 - 40);
  const to = Math.min(marked.length, col0 + 42);
  return `'${from > 0 ? "…" : ""}${marked.slice(from, to)}${to < marked.length ? "…" : ""}'`;
}

const SHOWABLE = /^[0-9A-Za-z_:.#$%-]$/;
const isShowable = (c: string | undefined): boolean => c !== undefined && SHOWABLE.test(c);
const isLabelChar = (c: string | undefined): boolean => isShowable(c) || c === "\\";
const isNumberChar = (c: string | undefined): boolean => c !== undefined && ((c >= "0" && c <= "9") || c === ".");
const isHex = (c: string | undefined): boolean => c !== undefined && /^[0-9A-Fa-f]$/.test(c);

/**
 * Finagle's canonical rendering of one label's bytes: as is when every byte is showable, otherwise
 * every byte as `\xHH`. Parsing `/\x66oo` therefore yields the label `foo`, so equal paths compare equal.
 */
function showLabel(bytes: readonly number[]): string {
  if (bytes.every((b) => isShowable(String.fromCharCode(b)))) return String.fromCharCode(...bytes);
  return bytes.map((b) => `\\x${b.toString(16).padStart(2, "0")}`).join("");
}

const LABEL_CHAR = "a label character (letters, digits, _:.#$%- or \\xHH)";
const SIMPLE = "a path, '(', '!', '~' or '$'";

/** A hand-written predictive parser mirroring Finagle's, so that we accept exactly what namerd accepts. */
class Parser {
  private i = 0;
  constructor(private readonly src: string) {}

  private peek(): string | undefined {
    return this.src[this.i];
  }
  private atEnd(): boolean {
    return this.i >= this.src.length;
  }
  private fail(expected: string, at = this.i): never {
    throw new DtabParseError(this.src, at, expected);
  }
  private maybeEat(c: string): boolean {
    if (this.peek() !== c) return false;
    this.i++;
    return true;
  }
  private eat(c: string, expected = `'${c}'`): void {
    if (!this.maybeEat(c)) this.fail(expected);
  }
  private ws(): void {
    while (!this.atEnd()) {
      const c = this.peek()!;
      if (c === "#") {
        const nl = this.src.indexOf("\n", this.i);
        this.i = nl === -1 ? this.src.length : nl + 1;
      } else if (/\s/.test(c)) this.i++;
      else return;
    }
  }
  end(what: string): void {
    this.ws();
    if (!this.atEnd()) this.fail(what);
  }

  private label(): string {
    const bytes: number[] = [];
    do {
      const c = this.peek();
      if (isShowable(c)) {
        bytes.push(c!.charCodeAt(0));
        this.i++;
      } else if (c === "\\") {
        this.i++;
        this.eat("x", "'x' after '\\' (escapes are \\xHH)");
        const hi = this.peek();
        if (!isHex(hi)) this.fail("a hex digit");
        this.i++;
        const lo = this.peek();
        if (!isHex(lo)) this.fail("a hex digit");
        this.i++;
        bytes.push(parseInt(hi! + lo!, 16));
      } else this.fail(LABEL_CHAR);
    } while (isLabelChar(this.peek()));
    return showLabel(bytes);
  }

  path(): Path {
    this.ws();
    this.eat("/", "'/' (a path)");
    if (!isLabelChar(this.peek())) return [];
    const labels: string[] = [];
    do labels.push(this.label());
    while (this.maybeEat("/"));
    return labels;
  }

  prefix(): Prefix {
    this.ws();
    this.eat("/", "'/' (a dentry prefix)");
    if (!isLabelChar(this.peek()) && this.peek() !== ANY_ELEM) return [];
    const elems: string[] = [];
    do {
      if (this.maybeEat(ANY_ELEM)) elems.push(ANY_ELEM);
      else elems.push(this.label());
    } while (this.maybeEat("/"));
    return elems;
  }

  private number(): number {
    const start = this.i;
    let seenDot = false;
    while (isNumberChar(this.peek())) {
      if (this.peek() === ".") {
        if (seenDot) this.fail("a digit (a weight has at most one '.')");
        seenDot = true;
      }
      this.i++;
    }
    const text = this.src.slice(start, this.i);
    if (text === ".") this.fail("a weight (digits)", start);
    const value = Number(text);
    if (!Number.isFinite(value)) this.fail("a weight below 1.8e308", start);
    return value;
  }

  private simple(): NameTree {
    this.ws();
    switch (this.peek()) {
      case "(": {
        this.i++;
        const t = this.tree();
        this.ws();
        this.eat(")");
        return t;
      }
      case "/":
        return { kind: "leaf", path: this.path() };
      case "!":
        this.i++;
        return FAIL;
      case "~":
        this.i++;
        return NEG;
      case "$":
        this.i++;
        return EMPTY;
      default:
        return this.fail(SIMPLE);
    }
  }

  private weighted(): Weighted {
    this.ws();
    if (!isNumberChar(this.peek())) return { weight: DEFAULT_WEIGHT, tree: this.simple() };
    const start = this.i;
    const weight = this.number();
    this.ws();
    this.eat("*", `'*' after the weight ${this.src.slice(start, this.i).trim()}`);
    return { weight, tree: this.simple() };
  }

  private tree1(): NameTree {
    const branches: Weighted[] = [];
    do {
      branches.push(this.weighted());
      this.ws();
    } while (this.maybeEat("&"));
    // A lone weighted tree is just the tree: Finagle drops the weight of a one-branch union too.
    return branches.length > 1 ? { kind: "union", branches } : branches[0]!.tree;
  }

  tree(): NameTree {
    const trees: NameTree[] = [];
    do {
      trees.push(this.tree1());
      this.ws();
    } while (this.maybeEat("|"));
    return trees.length > 1 ? { kind: "alt", trees } : trees[0]!;
  }

  dentry(): Dentry {
    const prefix = this.prefix();
    this.ws();
    if (!this.src.startsWith("=>", this.i)) this.fail("'=>'");
    this.i += 2;
    return { prefix, tree: this.tree() };
  }

  dtab(): Dtab {
    const dentries: Dentry[] = [];
    do {
      this.ws();
      if (!this.atEnd()) {
        dentries.push(this.dentry());
        this.ws();
      }
    } while (this.maybeEat(";"));
    return dentries;
  }
}

/** Run one grammar rule over the whole text: anything left after it is an error naming what was expected. */
function parseWhole<T>(text: string, rule: (p: Parser) => T, expected = "end of input"): T {
  const p = new Parser(text);
  const value = rule(p);
  p.end(expected);
  return value;
}

/** Parse a whole dtab. An empty text (or only comments) is the empty dtab. Throws DtabParseError. */
export function parseDtab(text: string): Dtab {
  return parseWhole(text, (p) => p.dtab(), "';' or end of input");
}

export function parseDentry(text: string): Dentry {
  return parseWhole(text, (p) => p.dentry());
}

export function parseNameTree(text: string): NameTree {
  return parseWhole(text, (p) => p.tree());
}

export function parsePath(text: string): Path {
  return parseWhole(text, (p) => p.path());
}

export function parsePrefix(text: string): Prefix {
  return parseWhole(text, (p) => p.prefix());
}

// ---------------------------------------------------------------------------------------------------
// Printing

export const printPath = (path: Path | Prefix): string => (path.length === 0 ? "/" : `/${path.join("/")}`);
export const printPrefix = printPath;

/**
 * How weights look. "bot": every union weight written, whole numbers as integers (`90 * /a & 10 * /b`),
 * what we PUT and show in Slack. "namerd": Finagle's `NameTree.show`, the form namerd serves and namerctl
 * prints: `%.2f` weights joined to the tree by a bare `*`, and no weight at all for the default weight 1.
 */
export type PrintStyle = "bot" | "namerd";

/** A decimal without exponent: the grammar has no `e`, so `1e-7` must be written `0.0000001`. */
export function formatWeight(w: number): string {
  if (!Number.isFinite(w) || w < 0) throw new RangeError(`weight ${w} cannot be written in a dtab`);
  if (Number.isInteger(w)) return BigInt(w).toString();
  const s = String(w);
  const m = /^(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return s;
  const digits = m[1]! + (m[2] ?? "");
  const exp = Number(m[3]);
  // Only tiny non-integers reach here (large doubles are all integers): shift the point left.
  return `0.${"0".repeat(-exp - 1)}${digits}`;
}

function weightText(w: number, style: PrintStyle): string {
  const text = formatWeight(w); // also rejects weights the grammar cannot carry
  if (style === "namerd") return w === DEFAULT_WEIGHT ? "" : `${w.toFixed(2)}*`;
  return `${text} * `;
}

/** Children of one-child alts and unions print as the child alone, as in Finagle (the weight is moot). */
function unwrap(t: NameTree): NameTree {
  if (t.kind === "alt" && t.trees.length === 1) return unwrap(t.trees[0]!);
  if (t.kind === "union" && t.branches.length === 1) return unwrap(t.branches[0]!.tree);
  return t;
}

/** Top level: an alternation needs no parentheses here. */
function showTop(tree: NameTree, style: PrintStyle): string {
  const t = unwrap(tree);
  if (t.kind === "alt" && t.trees.length > 1) return t.trees.map((c) => showAltChild(c, style)).join(" | ");
  return showAltChild(t, style);
}

/** Inside an alternation: a union needs no parentheses (`&` binds tighter), a nested alternation does. */
function showAltChild(tree: NameTree, style: PrintStyle): string {
  const t = unwrap(tree);
  if (t.kind === "union" && t.branches.length > 1) {
    return t.branches.map((b) => weightText(b.weight, style) + showSimple(b.tree, style)).join(" & ");
  }
  if (t.kind === "alt" && t.trees.length > 1) return `(${showTop(t, style)})`;
  return showSimple(t, style);
}

function showSimple(tree: NameTree, style: PrintStyle): string {
  const t = unwrap(tree);
  switch (t.kind) {
    case "leaf":
      return printPath(t.path);
    case "fail":
      return "!";
    case "neg":
      return "~";
    case "empty":
      return "$";
    case "alt":
    case "union":
      // No children left after unwrap: Finagle simplifies an empty alt/union to Neg.
      if ((t.kind === "alt" ? t.trees.length : t.branches.length) === 0) return "~";
      return `(${showTop(t, style)})`;
  }
}

export function printTree(tree: NameTree, style: PrintStyle = "bot"): string {
  return showTop(tree, style);
}

/** `prefix => tree` (no `;`): one dentry, e.g. for messages and the l5d-dtab header. */
export function printDentry(d: Dentry, style: PrintStyle = "bot"): string {
  return style === "namerd" ? `${printPrefix(d.prefix)}=>${printTree(d.tree, style)}` : `${printPrefix(d.prefix)} => ${printTree(d.tree, style)}`;
}

/**
 * "bot": one `prefix => tree ;` line per dentry. "namerd": Finagle's `Dtab.show`, dentries joined by `;`
 * without spaces, as namerd serves `application/dtab`.
 */
export function printDtab(dtab: Dtab, style: PrintStyle = "bot"): string {
  if (style === "namerd") return dtab.map((d) => printDentry(d, style)).join(";");
  return dtab.map((d) => `${printDentry(d, style)} ;`).join("\n");
}

// ---------------------------------------------------------------------------------------------------
// Semantic comparison

/**
 * Canonical form for comparison: one-child alts/unions collapse to the child, nested alternations
 * flatten (`(a | b) | c` evaluates like `a | b | c`), and a union becomes a set of distinct branches with
 * weights as proportions of their sum (so `0.9*a & 0.1*b`, `90*a & 10*b` and `10*b & 90*a` agree, and
 * `a & a` is `a`). Neg/Fail are deliberately not simplified away: `/a | ~` stays different from `/a`.
 */
type Canon =
  | { kind: "leaf"; path: string }
  | { kind: "fail" | "neg" | "empty" }
  | { kind: "alt"; trees: Canon[] }
  | { kind: "union"; parts: { key: string; share: number; tree: Canon }[] };

function canon(tree: NameTree): Canon {
  switch (tree.kind) {
    case "leaf":
      return { kind: "leaf", path: printPath(tree.path) };
    case "fail":
    case "neg":
    case "empty":
      return { kind: tree.kind };
    case "alt": {
      const trees = tree.trees.map(canon).flatMap((c) => (c.kind === "alt" ? c.trees : [c]));
      if (trees.length === 0) return { kind: "neg" };
      return trees.length === 1 ? trees[0]! : { kind: "alt", trees };
    }
    case "union": {
      const byKey = new Map<string, { weight: number; tree: Canon }>();
      for (const b of tree.branches) {
        const c = canon(b.tree);
        const key = canonKey(c);
        const prev = byKey.get(key);
        byKey.set(key, { weight: (prev?.weight ?? 0) + b.weight, tree: c });
      }
      if (byKey.size === 0) return { kind: "neg" };
      if (byKey.size === 1) return [...byKey.values()][0]!.tree;
      const total = [...byKey.values()].reduce((s, v) => s + v.weight, 0);
      const parts = [...byKey.entries()]
        .map(([key, v]) => ({ key, share: total > 0 ? v.weight / total : 0, tree: v.tree }))
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      return { kind: "union", parts };
    }
  }
}

/** A string identity for grouping equal union branches; nested shares rounded to absorb float noise. */
function canonKey(c: Canon): string {
  switch (c.kind) {
    case "leaf":
      return c.path;
    case "fail":
      return "!";
    case "neg":
      return "~";
    case "empty":
      return "$";
    case "alt":
      return `(${c.trees.map(canonKey).join("|")})`;
    case "union":
      return `(${c.parts.map((p) => `${p.share.toPrecision(9)}*${p.key}`).join("&")})`;
  }
}

const SHARE_EPSILON = 1e-9;

function canonEquals(a: Canon, b: Canon): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === "leaf") return a.path === (b as typeof a).path;
  if (a.kind === "alt") {
    const bt = (b as typeof a).trees;
    return a.trees.length === bt.length && a.trees.every((t, i) => canonEquals(t, bt[i]!));
  }
  if (a.kind === "union") {
    const bp = (b as typeof a).parts;
    return (
      a.parts.length === bp.length &&
      a.parts.every((p, i) => p.key === bp[i]!.key && Math.abs(p.share - bp[i]!.share) <= SHARE_EPSILON && canonEquals(p.tree, bp[i]!.tree))
    );
  }
  return true;
}

export function treeEquals(a: NameTree, b: NameTree): boolean {
  return canonEquals(canon(a), canon(b));
}

export function prefixEquals(a: Prefix, b: Prefix): boolean {
  return a.length === b.length && a.every((e, i) => e === b[i]);
}

export function dentryEquals(a: Dentry, b: Dentry): boolean {
  return prefixEquals(a.prefix, b.prefix) && treeEquals(a.tree, b.tree);
}

/** Same dentries in the same order (order matters: later dentries take precedence). */
export function dtabEquals(a: Dtab, b: Dtab): boolean {
  return a.length === b.length && a.every((d, i) => dentryEquals(d, b[i]!));
}

// ---------------------------------------------------------------------------------------------------
// Dentry helpers

const asPrefix = (p: Prefix | string): Prefix => (typeof p === "string" ? parsePrefix(p) : p);

/** Index of the effective dentry with exactly this prefix: the last one, since later dentries win. */
export function findDentryIndex(dtab: Dtab, prefix: Prefix | string): number {
  const want = asPrefix(prefix);
  for (let i = dtab.length - 1; i >= 0; i--) if (prefixEquals(dtab[i]!.prefix, want)) return i;
  return -1;
}

export function findDentry(dtab: Dtab, prefix: Prefix | string): Dentry | undefined {
  const i = findDentryIndex(dtab, prefix);
  return i === -1 ? undefined : dtab[i];
}

/**
 * A new dtab where the last dentry with `prefix` routes to `tree`, every other dentry kept in place and
 * order; appended when there is none.
 */
export function replaceDentry(dtab: Dtab, prefix: Prefix | string, tree: NameTree): Dtab {
  const p = asPrefix(prefix);
  const i = findDentryIndex(dtab, p);
  if (i === -1) return [...dtab, { prefix: p, tree }];
  return dtab.map((d, j) => (j === i ? { prefix: d.prefix, tree } : d));
}

/**
 * Does a dentry with prefix `general` apply to every name that `specific` matches? (`/host` and `/host/*`
 * cover `/host/world`.) A covering dentry placed later in the dtab takes precedence.
 */
export function prefixCovers(general: Prefix, specific: Prefix): boolean {
  return general.length <= specific.length && general.every((e, i) => e === ANY_ELEM || e === specific[i]);
}

// ---------------------------------------------------------------------------------------------------
// Rollout trees

/** 0 -> stable alone, 100 -> canary alone, else `(100-p) * stable & p * canary`. */
export function rolloutTree(stableDst: Path, canaryDst: Path, canaryPercent: number): NameTree {
  if (!Number.isFinite(canaryPercent) || canaryPercent < 0 || canaryPercent > 100) {
    throw new RangeError(`canary percent must be within 0..100, got ${canaryPercent}`);
  }
  if (canaryPercent === 0) return { kind: "leaf", path: stableDst };
  if (canaryPercent === 100) return { kind: "leaf", path: canaryDst };
  return {
    kind: "union",
    branches: [
      { weight: 100 - canaryPercent, tree: { kind: "leaf", path: stableDst } },
      { weight: canaryPercent, tree: { kind: "leaf", path: canaryDst } },
    ],
  };
}

/**
 * The canary percent (rounded) a tree routes when it is a pure split between the two destinations, in
 * any weight notation; undefined for anything else (another destination, an alternation, `~`...).
 */
export function canaryPercentOf(tree: NameTree, stableDst: Path, canaryDst: Path): number | undefined {
  const stable = printPath(stableDst);
  const canary = printPath(canaryDst);
  const c = canon(tree);
  if (c.kind === "leaf") return c.path === stable ? 0 : c.path === canary ? 100 : undefined;
  if (c.kind !== "union") return undefined;
  let canaryShare = 0;
  let total = 0;
  for (const p of c.parts) {
    if (p.tree.kind !== "leaf" || (p.key !== stable && p.key !== canary)) return undefined;
    total += p.share;
    if (p.key === canary) canaryShare = p.share;
  }
  if (total === 0) return undefined; // all weights zero: routes nothing we can name
  return Math.round(canaryShare * 100);
}
