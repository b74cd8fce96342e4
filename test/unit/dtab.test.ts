import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { prng } from "../support/prng.ts";
import {
  DtabParseError,
  EMPTY,
  FAIL,
  NEG,
  alt,
  canaryPercentOf,
  dtabEquals,
  findDentry,
  formatWeight,
  leaf,
  parseDtab,
  parseNameTree,
  parsePath,
  prefixCovers,
  printDtab,
  printTree,
  replaceDentry,
  rolloutTree,
  treeEquals,
  union,
  type Dentry,
  type Dtab,
  type NameTree,
  type Prefix,
} from "../../src/routers/dtab.ts";

const SEED = "/srv => /#/io.l5d.k8s/default/http ; /host => /srv ; /tmp => /srv ; /svc => /host ; /host/world => /srv/world-v1 ;";
const p = (s: string) => parsePath(s);
const w = (weight: number, tree: NameTree) => ({ weight, tree });

describe("parseDtab: a corpus of tricky dtabs", () => {
  it("reads the PROTOCOLS.md seed, later dentries last", () => {
    const d = parseDtab(SEED);
    expect(d.map((e) => [e.prefix.join("/"), printTree(e.tree)])).toEqual([
      ["srv", "/#/io.l5d.k8s/default/http"],
      ["host", "/srv"],
      ["tmp", "/srv"],
      ["svc", "/host"],
      ["host/world", "/srv/world-v1"],
    ]);
  });

  const cases: { name: string; text: string; tree: NameTree; printed: string }[] = [
    {
      name: "decimal weights",
      text: "/a => 0.3*/b & 0.7*/c",
      tree: union(w(0.3, leaf("/b")), w(0.7, leaf("/c"))),
      printed: "/a => 0.3 * /b & 0.7 * /c ;",
    },
    {
      name: "leading and trailing dots in weights",
      text: "/a => .5*/b & 5.*/c",
      tree: union(w(0.5, leaf("/b")), w(5, leaf("/c"))),
      printed: "/a => 0.5 * /b & 5 * /c ;",
    },
    {
      name: "nested alternation with a union: & binds tighter, so no parentheses are printed",
      text: "/a => /a | (1*/b & 2*/c) | !",
      tree: alt(leaf("/a"), union(w(1, leaf("/b")), w(2, leaf("/c"))), FAIL),
      printed: "/a => /a | 1 * /b & 2 * /c | ! ;",
    },
    {
      name: "an alternation inside a union keeps its parentheses",
      text: "/a => 2 * (/b | /c) & /d",
      tree: union(w(2, alt(leaf("/b"), leaf("/c"))), w(1, leaf("/d"))),
      printed: "/a => 2 * (/b | /c) & 1 * /d ;",
    },
    {
      name: "a union inside a union keeps its parentheses",
      text: "/a=>1*(2*/b&3*/c)&4*/d",
      tree: union(w(1, union(w(2, leaf("/b")), w(3, leaf("/c")))), w(4, leaf("/d"))),
      printed: "/a => 1 * (2 * /b & 3 * /c) & 4 * /d ;",
    },
    {
      name: "a parenthesised alternation inside an alternation stays nested",
      text: "/a => (/b | /c) | /d",
      tree: alt(alt(leaf("/b"), leaf("/c")), leaf("/d")),
      printed: "/a => (/b | /c) | /d ;",
    },
    {
      name: "neg and empty",
      text: "/a => ~ | $",
      tree: alt(NEG, EMPTY),
      printed: "/a => ~ | $ ;",
    },
    {
      name: "a lone weighted tree drops its weight, as Finagle does",
      text: "/a => 2 * /b",
      tree: leaf("/b"),
      printed: "/a => /b ;",
    },
    {
      name: "redundant parentheses vanish",
      text: "/a => ((/b))",
      tree: leaf("/b"),
      printed: "/a => /b ;",
    },
    {
      name: "escapes of showable bytes become plain labels",
      text: "/a => /\\x66o\\x6F",
      tree: leaf(["foo"]),
      printed: "/a => /foo ;",
    },
    {
      name: "a label with an unshowable byte is written all escaped",
      text: "/a => /\\x20X",
      tree: leaf(["\\x20\\x58"]),
      printed: "/a => /\\x20\\x58 ;",
    },
    {
      name: "the empty path",
      text: "/a => /",
      tree: leaf([]),
      printed: "/a => / ;",
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const [d] = parseDtab(c.text);
      expect(d!.tree).toEqual(c.tree);
      expect(printDtab([d!])).toBe(c.printed);
    });
  }

  it("accepts * elements in prefixes, but not in paths", () => {
    const [d] = parseDtab("/host/*/world => /srv");
    expect(d!.prefix).toEqual(["host", "*", "world"]);
    expect(printDtab([d!])).toBe("/host/*/world => /srv ;");
    expect(() => parseDtab("/a => /host/*")).toThrow("expected a label character");
  });

  it("takes # as a comment between tokens and as a label character inside a path", () => {
    const text = [
      "# owned by the platform team",
      "/srv => /#/io.l5d.k8s/default/http ; # k8s namer",
      "/host/world =>   # owned by rollout-bot",
      "   90 * /srv/world-v1 &   # stable",
      "   10 * /srv/world-v2 ;",
      "",
    ].join("\n");
    const d = parseDtab(text);
    expect(printDtab(d)).toBe("/srv => /#/io.l5d.k8s/default/http ;\n/host/world => 90 * /srv/world-v1 & 10 * /srv/world-v2 ;");
  });

  it("reads empty and comment-only texts as the empty dtab, and allows one trailing ;", () => {
    expect(parseDtab("")).toEqual([]);
    expect(parseDtab("  \n\t ")).toEqual([]);
    expect(parseDtab("# nothing here\n# at all")).toEqual([]);
    expect(parseDtab("/a=>/b;")).toHaveLength(1);
    expect(parseDtab("/a=>/b ; \n")).toHaveLength(1);
    expect(printDtab([])).toBe("");
  });

  it("reads namerd's compact rendering with two-decimal weights", () => {
    const d = parseDtab("/srv=>/#/io.l5d.k8s/default/http;/host/world=>0.90*/srv/world-v1 & 0.10*/srv/world-v2");
    expect(printDtab(d)).toBe("/srv => /#/io.l5d.k8s/default/http ;\n/host/world => 0.9 * /srv/world-v1 & 0.1 * /srv/world-v2 ;");
    expect(printDtab(d, "namerd")).toBe("/srv=>/#/io.l5d.k8s/default/http;/host/world=>0.90*/srv/world-v1 & 0.10*/srv/world-v2");
  });

  it("prints namerd style without the default weight and with %.2f weights", () => {
    expect(printTree(parseNameTree("1 * /a & 2.5 * /b"), "namerd")).toBe("/a & 2.50*/b");
    expect(printTree(parseNameTree("(/a | /b) & /c | !"), "namerd")).toBe("(/a | /b) & /c | !");
  });
});

describe("parse errors say where and what", () => {
  const errors: [string, string][] = [
    ["/host /srv", "expected '=>' but found '/' at line 1, column 7: '/host [/]srv'"],
    ["/a => /b;;", "expected '/' (a dentry prefix) but found ';' at line 1, column 10: '/a => /b;[;]'"],
    [";", "expected '/' (a dentry prefix) but found ';' at line 1, column 1: '[;]'"],
    ["/a => ", "expected a path, '(', '!', '~' or '$' but found end of input at line 1, column 7: '/a => []'"],
    ["/a => /b &", "expected a path, '(', '!', '~' or '$' but found end of input at line 1, column 11: '/a => /b &[]'"],
    ["/a => 0.1.2*/b", "expected a digit (a weight has at most one '.') but found '.' at line 1, column 10: '/a => 0.1[.]2*/b'"],
    ["/a => . * /b", "expected a weight (digits) but found '.' at line 1, column 7: '/a => [.] * /b'"],
    ["/a => 2 /b", "expected '*' after the weight 2 but found '/' at line 1, column 9: '/a => 2 [/]b'"],
    ["/a => /b /c", "expected ';' or end of input but found '/' at line 1, column 10: '/a => /b [/]c'"],
    ["/a => (/b", "expected ')' but found end of input at line 1, column 10: '/a => (/b[]'"],
    ["/a => /\\x4g", "expected a hex digit but found 'g' at line 1, column 11: '/a => /\\x4[g]'"],
    ["/a => /\\y", "expected 'x' after '\\' (escapes are \\xHH) but found 'y' at line 1, column 9: '/a => /\\[y]'"],
    ["/foo/*bar => !", "expected '=>' but found 'b' at line 1, column 7: '/foo/*[b]ar => !'"],
    ["/a = > /b", "expected '=>' but found '=' at line 1, column 4: '/a [=] > /b'"],
    ["/a/ => /b", "expected a label character (letters, digits, _:.#$%- or \\xHH) but found whitespace at line 1, column 4: '/a/[ ]=> /b'"],
    ["a => /b", "expected '/' (a dentry prefix) but found 'a' at line 1, column 1: '[a] => /b'"],
  ];
  for (const [text, message] of errors) {
    it(JSON.stringify(text), () => {
      let caught: unknown;
      try {
        parseDtab(text);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(DtabParseError);
      expect((caught as Error).message).toBe(message);
    });
  }

  it("reports line and column on later lines of a multi-line dtab", () => {
    const text = "/srv => /#/io.l5d.k8s/default/http ;\n/host => /srv ;\n/host/world => 90 * /srv/world-v1 & 10 /srv/world-v2 ;";
    let caught: DtabParseError | undefined;
    try {
      parseDtab(text);
    } catch (err) {
      caught = err as DtabParseError;
    }
    expect(caught).toBeInstanceOf(DtabParseError);
    expect(caught!.line).toBe(3);
    expect(caught!.column).toBe(40);
    expect(caught!.offset).toBe(text.indexOf("/srv/world-v2"));
    expect(caught!.expected).toBe("'*' after the weight 10");
    expect(caught!.message).toMatch(/at line 3, column 40: '…?.*& 10 \[\/\]srv\/world-v2 ;'$/);
  });

  it("rejects a weight too large to represent", () => {
    expect(() => parseNameTree(`${"9".repeat(400)} * /a & /b`)).toThrow("expected a weight below 1.8e308 but found '9' at line 1, column 1");
  });
});

describe("dtabEquals: semantic comparison", () => {
  const same: [string, string][] = [
    [SEED, SEED.replace(/ /g, "").replace(/;/g, ";\n # comment\n")],
    ["/a => 0.90*/b & 0.10*/c", "/a => 90 * /b & 10 * /c"],
    ["/a => 0.9*/b & 0.1*/c", "/a => 0.90*/b & 0.10*/c"],
    ["/a => 90*/b & 10*/c", "/a => 10*/c & 90*/b"],
    ["/a => /b & /c", "/a => 7*/b & 7*/c"],
    ["/a => 1*/b & 1*/b", "/a => /b"],
    ["/a => 1*/b & 2*/c & 1*/b", "/a => 1*/b & 1*/c"],
    ["/a => (/b | /c) | /d", "/a => /b | (/c | /d)"],
    ["/a => /\\x66oo", "/a => /foo"],
    ["", "# nothing"],
  ];
  for (const [a, b] of same) {
    it(`${JSON.stringify(a)} equals ${JSON.stringify(b)}`, () => {
      expect(dtabEquals(parseDtab(a), parseDtab(b))).toBe(true);
      expect(dtabEquals(parseDtab(b), parseDtab(a))).toBe(true);
    });
  }

  const different: [string, string][] = [
    ["/a => 90*/b & 10*/c", "/a => 80*/b & 20*/c"],
    ["/a => 0.91*/b & 0.10*/c", "/a => 0.90*/b & 0.10*/c"],
    ["/a => /b ; /c => /d", "/c => /d ; /a => /b"],
    ["/a => /b", "/a => /b ; /a => /b"],
    ["/a => /b | /c", "/a => /c | /b"],
    ["/a => /b | ~", "/a => /b"],
    ["/a => /b", "/a/* => /b"],
    ["/a => ~", "/a => $"],
    ["/a => 0*/b & 1*/c", "/a => /c"],
    ["/a => /b & /c", "/a => /b | /c"],
  ];
  for (const [a, b] of different) {
    it(`${JSON.stringify(a)} differs from ${JSON.stringify(b)}`, () => {
      expect(dtabEquals(parseDtab(a), parseDtab(b))).toBe(false);
      expect(dtabEquals(parseDtab(b), parseDtab(a))).toBe(false);
    });
  }
});

describe("findDentry / replaceDentry", () => {
  const dtab = parseDtab("/host => /srv ; /host/world => /srv/old ; /svc => /host ; /host/world => /srv/world-v1 ; /tmp => /srv");

  it("finds the last dentry with the prefix: later dentries take precedence", () => {
    expect(printTree(findDentry(dtab, "/host/world")!.tree)).toBe("/srv/world-v1");
    expect(findDentry(dtab, "/host/nothing")).toBeUndefined();
    expect(findDentry(dtab, ["host"])?.tree).toEqual(leaf("/srv"));
  });

  it("replaces the last one in place and keeps every other dentry in order", () => {
    const next = replaceDentry(dtab, "/host/world", rolloutTree(p("/srv/world-v1"), p("/srv/world-v2"), 10));
    expect(printDtab(next)).toBe(
      ["/host => /srv ;", "/host/world => /srv/old ;", "/svc => /host ;", "/host/world => 90 * /srv/world-v1 & 10 * /srv/world-v2 ;", "/tmp => /srv ;"].join(
        "\n",
      ),
    );
    expect(printTree(findDentry(dtab, "/host/world")!.tree)).toBe("/srv/world-v1"); // input untouched
  });

  it("appends when the prefix has no dentry", () => {
    const next = replaceDentry(dtab, "/host/moon", leaf("/srv/moon-v1"));
    expect(next).toHaveLength(dtab.length + 1);
    expect(printDtab(next.slice(-1))).toBe("/host/moon => /srv/moon-v1 ;");
    expect(dtabEquals(next.slice(0, -1), dtab)).toBe(true);
  });

  it("prefixCovers: shorter and * prefixes apply to longer names", () => {
    expect(prefixCovers(["host"], ["host", "world"])).toBe(true);
    expect(prefixCovers(["host", "*"], ["host", "world"])).toBe(true);
    expect(prefixCovers(["*", "world"], ["host", "world"])).toBe(true);
    expect(prefixCovers([], ["host", "world"])).toBe(true);
    expect(prefixCovers(["host", "world", "x"], ["host", "world"])).toBe(false);
    expect(prefixCovers(["svc"], ["host", "world"])).toBe(false);
  });
});

describe("rollout trees", () => {
  const stable = p("/srv/world-v1");
  const canary = p("/srv/world-v2");

  it("builds single destinations at 0 and 100 and a weighted union between", () => {
    expect(printTree(rolloutTree(stable, canary, 0))).toBe("/srv/world-v1");
    expect(printTree(rolloutTree(stable, canary, 100))).toBe("/srv/world-v2");
    expect(printTree(rolloutTree(stable, canary, 10))).toBe("90 * /srv/world-v1 & 10 * /srv/world-v2");
    expect(printTree(rolloutTree(stable, canary, 1))).toBe("99 * /srv/world-v1 & 1 * /srv/world-v2");
    expect(() => rolloutTree(stable, canary, 101)).toThrow(RangeError);
    expect(() => rolloutTree(stable, canary, -1)).toThrow(RangeError);
  });

  it("canaryPercentOf inverts it for every whole percent, also through namerd's rendering", () => {
    for (let pct = 0; pct <= 100; pct++) {
      const t = rolloutTree(stable, canary, pct);
      expect(canaryPercentOf(t, stable, canary)).toBe(pct);
      expect(canaryPercentOf(parseNameTree(printTree(t, "namerd")), stable, canary)).toBe(pct);
    }
  });

  const percents: [string, number | undefined][] = [
    ["0.90*/srv/world-v1 & 0.10*/srv/world-v2", 10],
    ["10*/srv/world-v2 & 90*/srv/world-v1", 10],
    ["/srv/world-v1 & /srv/world-v2", 50],
    ["2*/srv/world-v1 & 1*/srv/world-v2", 33],
    ["1*/srv/world-v1 & 1*/srv/world-v1", 0],
    ["100*/srv/world-v1 & 0*/srv/world-v2", 0],
    ["/srv/world-v3", undefined],
    ["90*/srv/world-v1 & 10*/srv/world-v3", undefined],
    ["80*/srv/world-v1 & 10*/srv/world-v2 & 10*/srv/world-v3", undefined],
    ["/srv/world-v1 | /srv/world-v2", undefined],
    ["/srv/world-v1 | ~", undefined],
    ["0*/srv/world-v1 & 0*/srv/world-v2", undefined],
    ["~", undefined],
  ];
  for (const [text, pct] of percents) {
    it(`${text} -> ${pct}`, () => {
      expect(canaryPercentOf(parseNameTree(text), stable, canary)).toBe(pct);
    });
  }
});

describe("formatWeight", () => {
  it("never writes an exponent, which the grammar cannot read", () => {
    expect(formatWeight(90)).toBe("90");
    expect(formatWeight(0.3)).toBe("0.3");
    expect(formatWeight(1e-7)).toBe("0.0000001");
    expect(formatWeight(1.5e-7)).toBe("0.00000015");
    expect(formatWeight(1e21)).toBe("1000000000000000000000");
    expect(() => formatWeight(-1)).toThrow(RangeError);
    expect(() => formatWeight(Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------------------------------------------
// Properties

const SHOWABLE = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_:.#$%-";
const hex2 = (b: number) => b.toString(16).padStart(2, "0");

const plainLabel = fc.string({ unit: fc.constantFrom(...SHOWABLE), minLength: 1, maxLength: 6 });
/** Canonical escaped labels: at least one unshowable byte, so every byte is written as \xhh. */
const escapedLabel = fc
  .array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 3 })
  .filter((bs) => bs.some((b) => !SHOWABLE.includes(String.fromCharCode(b))))
  .map((bs) => bs.map((b) => `\\x${hex2(b)}`).join(""));
const label = fc.oneof({ arbitrary: plainLabel, weight: 9 }, { arbitrary: escapedLabel, weight: 1 });
const pathArb = fc.array(label, { maxLength: 4 });
const prefixArb: fc.Arbitrary<Prefix> = fc.array(fc.oneof({ arbitrary: label, weight: 4 }, { arbitrary: fc.constant("*"), weight: 1 }), {
  maxLength: 4,
});
const weightArb = fc.oneof(
  fc.integer({ min: 0, max: 1000 }),
  fc.double({ min: 0, max: 1e6, noNaN: true, noDefaultInfinity: true }).map((x) => (Object.is(x, -0) ? 0 : x)),
);

/** Trees in the shape the parser produces: alternations and unions have at least two children. */
function treeArb(depth: number, weights: fc.Arbitrary<number> = weightArb): fc.Arbitrary<NameTree> {
  const base = fc.oneof(
    { arbitrary: pathArb.map((path): NameTree => ({ kind: "leaf", path })), weight: 4 },
    { arbitrary: fc.constantFrom(FAIL, NEG, EMPTY), weight: 1 },
  );
  if (depth === 0) return base;
  const sub = treeArb(depth - 1, weights);
  return fc.oneof(
    { arbitrary: base, weight: 3 },
    { arbitrary: fc.array(sub, { minLength: 2, maxLength: 3 }).map((trees): NameTree => ({ kind: "alt", trees })), weight: 1 },
    {
      arbitrary: fc.array(fc.record({ weight: weights, tree: sub }), { minLength: 2, maxLength: 3 }).map((branches): NameTree => ({ kind: "union", branches })),
      weight: 1,
    },
  );
}
const dtabArb = (weights?: fc.Arbitrary<number>): fc.Arbitrary<Dtab> =>
  fc.array(fc.record({ prefix: prefixArb, tree: treeArb(3, weights) }) as fc.Arbitrary<Dentry>, { maxLength: 5 });

/** Writes a dtab with random whitespace, comments, weight spellings, escapes and redundant parentheses. */
function noisy(dtab: Dtab, r: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const ws = () => pick(["", "", " ", "  ", "\n", "\t", " # a comment\n", "\n# line comment\n  "]);
  const noisyLabel = (l: string): string => {
    if (l === "*") return l;
    if (l.startsWith("\\x")) {
      // Showable bytes of an escaped label may be written plainly; hex digits in either case.
      return l
        .split("\\x")
        .slice(1)
        .map((h) => {
          const c = String.fromCharCode(parseInt(h, 16));
          return SHOWABLE.includes(c) && r() < 0.5 ? c : `\\x${r() < 0.5 ? h.toUpperCase() : h}`;
        })
        .join("");
    }
    return [...l].map((c) => (r() < 0.15 ? `\\x${r() < 0.5 ? hex2(c.charCodeAt(0)).toUpperCase() : hex2(c.charCodeAt(0))}` : c)).join("");
  };
  const path = (labels: readonly string[]) => (labels.length === 0 ? "/" : labels.map((l) => `/${noisyLabel(l)}`).join(""));
  const paren = (s: string) => `(${ws()}${s}${ws()})`;
  const weight = (x: number): string => {
    if (x === 1 && r() < 0.5) return "";
    const base = formatWeight(x);
    const text = pick(
      Number.isInteger(x) && base.length < 20 ? [base, `${base}.0`, `${base}.`, `0${base}`] : [base, base.includes(".") ? `${base}0` : base, `0${base}`],
    );
    return `${text}${ws()}*${ws()}`;
  };
  const simple = (t: NameTree): string => {
    switch (t.kind) {
      case "leaf":
        return r() < 0.2 ? paren(path(t.path)) : path(t.path);
      case "fail":
      case "neg":
      case "empty": {
        const s = t.kind === "fail" ? "!" : t.kind === "neg" ? "~" : "$";
        return r() < 0.2 ? paren(s) : s;
      }
      default:
        return paren(top(t));
    }
  };
  const altChild = (t: NameTree): string => {
    if (t.kind === "union") {
      const s = t.branches.map((b) => `${weight(b.weight)}${simple(b.tree)}`).join(`${ws()}&${ws()}`);
      return r() < 0.2 ? paren(s) : s;
    }
    if (t.kind === "alt") return paren(top(t));
    return simple(t);
  };
  const top = (t: NameTree): string => {
    const s = t.kind === "alt" ? t.trees.map(altChild).join(`${ws()}|${ws()}`) : altChild(t);
    return r() < 0.1 ? paren(s) : s;
  };
  const dentries = dtab.map((d) => `${ws()}${path(d.prefix)}${ws()}=>${ws()}${top(d.tree)}${ws()}`);
  return dentries.join(";") + (dtab.length > 0 && r() < 0.5 ? `;${ws()}` : ws());
}

describe("properties", () => {
  it("any dtab prints to text that parses back to exactly the same dtab", () => {
    fc.assert(
      fc.property(dtabArb(), (dtab) => {
        const text = printDtab(dtab);
        expect(parseDtab(text)).toEqual(dtab);
        expect(dtabEquals(parseDtab(text), dtab)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("namerd's rendering parses back to the same dtab when weights have two decimals", () => {
    const cents = fc.integer({ min: 0, max: 100_000 }).map((c) => c / 100);
    fc.assert(
      fc.property(dtabArb(cents), (dtab) => {
        expect(parseDtab(printDtab(dtab, "namerd"))).toEqual(dtab);
      }),
      { numRuns: 200 },
    );
  });

  it("a dtab written in any equivalent way parses to it, and print(parse(x)) parses to an equal dtab", () => {
    fc.assert(
      fc.property(dtabArb(), fc.integer(), (dtab, seed) => {
        const text = noisy(dtab, prng(seed)); // deterministic choices for writing one dtab in many equivalent ways
        const parsed = parseDtab(text);
        expect(parsed).toEqual(dtab);
        expect(dtabEquals(parseDtab(printDtab(parsed)), parsed)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("scaling every weight of a union keeps it equal; changing one proportion does not", () => {
    const positive = fc.double({ min: 1e-3, max: 1e3, noNaN: true });
    fc.assert(
      fc.property(positive, positive, fc.integer({ min: 2, max: 1000 }), (a, b, k) => {
        const base = union(w(a, leaf("/srv/a")), w(b, leaf("/srv/b")));
        expect(treeEquals(base, union(w(a * k, leaf("/srv/a")), w(b * k, leaf("/srv/b"))))).toBe(true);
        expect(treeEquals(base, union(w(b * k, leaf("/srv/b")), w(a * k, leaf("/srv/a"))))).toBe(true);
        expect(treeEquals(base, union(w(a * k, leaf("/srv/a")), w(b, leaf("/srv/b"))))).toBe(false);
      }),
    );
  });

  it("replaceDentry changes only the effective dentry for the prefix", () => {
    fc.assert(
      fc.property(dtabArb(), prefixArb, treeArb(2), (dtab, prefix, tree) => {
        const next = replaceDentry(dtab, prefix, tree);
        expect(findDentry(next, prefix)?.tree).toEqual(tree);
        const changed = next.map((d, i) => (dtab[i] === undefined ? i : d === dtab[i] ? -1 : i)).filter((i) => i !== -1);
        expect(changed).toHaveLength(1);
        expect(next.length - dtab.length).toBe(findDentry(dtab, prefix) ? 0 : 1);
      }),
      { numRuns: 200 },
    );
  });
});
