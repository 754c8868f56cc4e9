"""Differential test: random Jinja templates rendered by Python Jinja2 (as
transformers sets it up) and by sgl-c's interpreter must agree byte for byte
(or both fail).

  /usr/bin/python3 diff_fuzz.py --driver BUILD/tests/chat_template_ref [--n 3000] [--seed 1] [--show 20]

Templates are drawn from a grammar covering literals, operators, tests,
filters, str/dict/list methods, slicing, loops with loop.*, if/elif/else,
set/namespace, macros, call and filter blocks, and whitespace control, over a
random context. With a fixed seed the run is deterministic; the CTest suite
runs a fixed seed (exit 1 on any mismatch).
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import warnings

# Jinja2 compiles e.g. {{ 13[::-1] }} to Python that CPython warns about
warnings.filterwarnings("ignore", category=SyntaxWarning)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
try:
    import jinja2  # noqa: F401
except ImportError:
    print("SKIP: jinja2 is not installed for %s" % sys.executable)
    sys.exit(77)
import hf_env  # noqa: E402

STRS = ["", "a", "Hello World", "  pad  ", "x,y,,z", "ünï cödé ß", "🤗 emoji", "line1\nline2", "tab\tsep",
        "MiXeD CaSe", "it's", 'say "hi"', "back\\slash", "123", "-4.5", "a-b c(d", "<tag>&amp;"]
VARS = {
    "s": "Hello World",
    "u": "ünï cödé ß Σ",
    "e": "",
    "n": 7,
    "z": 0,
    "neg": -3,
    "f": 2.5,
    "g": 1.0,
    "t": True,
    "no": False,
    "nil": None,
    "l": [3, 1, 2],
    "ls": ["b", "A", "c", "a"],
    "mixed": [1, "a", None, 2.5],
    "d": {"a": 1, "b": "two", "c": [1, 2], "items": "shadow"},
    "msgs": [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "yo", "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}]},
        {"role": "tool", "content": "42"},
    ],
    "nested": {"k": {"k2": [{"v": 1}, {"v": 2}]}},
}
FILTERS0 = ["length", "upper", "lower", "title", "capitalize", "trim", "string", "list", "first", "last", "reverse",
            "sort", "unique", "tojson", "abs", "int", "float", "round", "sum", "min", "max", "e", "safe", "wordcount",
            "dictsort", "items", "count", "center", "indent", "striptags"]
METHODS0 = ["upper", "lower", "strip", "lstrip", "rstrip", "title", "capitalize", "split", "splitlines", "isdigit",
            "isalpha", "islower", "isupper", "isspace", "swapcase", "casefold"]
TESTS0 = ["defined", "undefined", "none", "string", "number", "integer", "float", "mapping", "iterable", "sequence",
          "boolean", "true", "false", "odd", "even", "callable", "lower", "upper", "escaped"]


class Gen:
    def __init__(self, rng):
        self.r = rng
        self.depth = 0

    def pick(self, xs):
        return xs[self.r.randrange(len(xs))]

    def strlit(self):
        s = self.pick(STRS)
        q = self.pick(["'", '"'])
        body = s.replace("\\", "\\\\").replace(q, "\\" + q).replace("\n", "\\n").replace("\t", "\\t")
        return q + body + q

    def atom(self):
        r = self.r.random()
        if r < 0.25:
            return self.pick(list(VARS))
        if r < 0.4:
            return str(self.r.randint(-5, 20))
        if r < 0.5:
            return self.pick(["0.5", "1.0", "2.25", "1e3", "-0.0", "3.14159"])
        if r < 0.65:
            return self.strlit()
        if r < 0.72:
            return self.pick(["true", "false", "none", "True", "None"])
        if r < 0.8:
            return "[" + ", ".join(self.expr() for _ in range(self.r.randint(0, 3))) + "]"
        if r < 0.85:
            return "{" + ", ".join("%s: %s" % (self.strlit(), self.expr()) for _ in range(self.r.randint(0, 2))) + "}"
        if r < 0.9:
            return "(" + self.expr() + ", " + self.expr() + ")"
        if r < 0.95:
            return self.pick(["undefined_var", "msgs[0]", "msgs[-1]", "d.a", "d['b']", "nested.k.k2[1].v", "l[0]"])
        return "range(%d)" % self.r.randint(0, 5)

    def postfix(self, e):
        r = self.r.random()
        if r < 0.15:
            return "%s.%s()" % (e, self.pick(METHODS0))
        if r < 0.22:
            return "%s[%s]" % (e, self.pick(["0", "-1", "1:", ":2", "::-1", "1:3", "'a'", "::2"]))
        if r < 0.27:
            return "%s.%s" % (e, self.pick(["a", "role", "content", "keys()", "items()", "values()", "get('a')"]))
        if r < 0.32:
            return "%s.%s(%s)" % (e, self.pick(["replace", "startswith", "endswith", "find", "count", "split", "join"]),
                                   ", ".join(self.strlit() for _ in range(self.r.randint(1, 2))))
        return e

    def filt(self, e):
        r = self.r.random()
        if r < 0.5:
            return "%s | %s" % (e, self.pick(FILTERS0))
        if r < 0.6:
            return "%s | join(%s)" % (e, self.strlit())
        if r < 0.65:
            return "%s | default(%s)" % (e, self.expr())
        if r < 0.7:
            return "%s | map(attribute='v') | list" % e
        if r < 0.75:
            return "%s | selectattr('role', 'equalto', 'user') | list" % e
        if r < 0.8:
            return "%s | tojson(indent=%d)" % (e, self.r.randint(0, 3))
        if r < 0.85:
            return "%s | replace(%s, %s)" % (e, self.strlit(), self.strlit())
        if r < 0.9:
            return "%s | sort(reverse=true)" % e
        if r < 0.95:
            return "%s | batch(2) | list" % e
        return "%s | reject('none') | list" % e

    def expr(self):
        self.depth += 1
        try:
            if self.depth > 3:
                return self.atom()
            r = self.r.random()
            if r < 0.3:
                return self.postfix(self.atom())
            if r < 0.45:
                return self.filt(self.atom())
            if r < 0.65:
                op = self.pick(["+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", ">", "<=", ">=", "in",
                                "not in", "and", "or"])
                return "(%s %s %s)" % (self.expr(), op, self.expr())
            if r < 0.72:
                return "not " + self.expr()
            if r < 0.8:
                return "(%s is %s%s)" % (self.atom(), self.pick(["", "not "]), self.pick(TESTS0))
            if r < 0.86:
                return "(%s if %s else %s)" % (self.expr(), self.expr(), self.expr())
            if r < 0.9:
                return "-" + self.atom()
            if r < 0.95:
                return "(%s is divisibleby %d)" % (self.atom(), self.r.randint(1, 3))
            return self.atom()
        finally:
            self.depth -= 1

    def ws(self, open_):
        return open_ + self.pick(["", "", "-", "+"]) if open_ == "{%" else open_ + self.pick(["", "", "-"])

    def end(self, close):
        return self.pick(["", "", "-"]) + close

    def text(self):
        return self.pick(["", " ", "\n", "  \n  ", "x", "\n\n", "\t"])

    def stmt(self, depth=0):
        r = self.r.random()
        t = self.text()
        if r < 0.35 or depth > 2:
            return t + self.ws("{{") + " " + self.expr() + " " + self.end("}}")
        if r < 0.5:
            body = "".join(self.stmt(depth + 1) for _ in range(self.r.randint(1, 3)))
            tgt = self.pick(["x", "x", "k, v"])
            src = self.pick(["l", "ls", "msgs", "d.items()", "range(3)", "s", "d", "mixed", "[]"])
            cond = self.pick(["", "", " if x"]) if tgt == "x" else ""
            loopy = self.pick(["{{ loop.index }}", "{{ loop.first }}{{ loop.last }}", "{{ loop.length }}",
                               "{{ loop.revindex0 }}", "{{ loop.cycle('a', 'b') }}", "{{ loop.previtem }}", ""])
            els = self.pick(["", "", "{% else %}empty"])
            return "%s%s for %s in %s%s %s%s%s{{ %s }}%s%s%s endfor %s" % (
                t, self.ws("{%"), tgt, src, cond, self.end("%}"), body, loopy, tgt.split(",")[0], els, self.text(),
                self.ws("{%"), self.end("%}"))
        if r < 0.65:
            body = "".join(self.stmt(depth + 1) for _ in range(self.r.randint(1, 2)))
            elif_ = self.pick(["", "{% elif " + self.expr() + " %}B"])
            else_ = self.pick(["", "{% else %}C"])
            return "%s%s if %s %s%s%s%s%s endif %s" % (t, self.ws("{%"), self.expr(), self.end("%}"), body, elif_, else_,
                                                       self.ws("{%"), self.end("%}"))
        if r < 0.75:
            return "%s%s set %s = %s %s{{ %s }}" % (t, self.ws("{%"), self.pick(["x", "s", "l", "n"]), self.expr(),
                                                   self.end("%}"), self.pick(["x", "s", "l", "n"]))
        if r < 0.8:
            return ("{% set ns = namespace(c=0) %}{% for m in msgs %}{% if m.role != 'system' %}"
                    "{% set ns.c = ns.c + 1 %}{% endif %}{% endfor %}{{ ns.c }}")
        if r < 0.85:
            return ("{%% macro mac(a, b=%s) %%}[{{ a }}|{{ b }}|{{ varargs }}]{%% endmacro %%}{{ mac(%s) }}{{ mac(%s, %s, 9) }}"
                    % (self.expr(), self.expr(), self.expr(), self.expr()))
        if r < 0.9:
            return "{%% filter %s %%}%s{%% endfilter %%}" % (self.pick(["upper", "trim", "title", "length"]),
                                                            self.stmt(depth + 1))
        if r < 0.95:
            return "%s{# comment %s #}%s" % (t, self.expr(), self.text())
        return "{%% raw %%}{{ %s }}{%% endraw %%}" % self.atom()

    def template(self):
        return "".join(self.stmt() for _ in range(self.r.randint(1, 4)))


class TypedGen(Gen):
    """Well-typed expressions (mostly renders, few errors), chat-template style."""

    def typed(self, ty, d=0):
        r = self.r.random()
        leaf = d >= 3 or r < 0.25
        pick = self.pick
        if ty == "str":
            if leaf:
                return pick([self.strlit(), "s", "u", "e", "msgs[%d].role" % self.r.randint(-4, 3),
                             "msgs[%d].content" % self.r.randint(-4, 3), "d.b", "d['b']", "ls[%d]" % self.r.randint(-4, 3)])
            k = self.r.randrange(14)
            if k == 0:
                return "(%s + %s)" % (self.typed("str", d + 1), self.typed("str", d + 1))
            if k == 1:
                return "(%s ~ %s)" % (self.typed("str", d + 1), self.typed(pick(["int", "float", "bool", "list", "str"]), d + 1))
            if k == 2:
                return "(%s | %s)" % (self.typed("str", d + 1), pick(["upper", "lower", "title", "trim", "capitalize", "string", "e", "safe", "center(9)", "indent(2)", "truncate(5)", "wordcount | string", "reverse", "striptags"]))
            if k == 3:
                return "%s.%s()" % (self.typed("str", d + 1), pick(["strip", "lstrip", "rstrip", "upper", "lower", "title", "capitalize", "swapcase"]))
            if k == 4:
                return "%s.replace(%s, %s)" % (self.typed("str", d + 1), self.strlit(), self.strlit())
            if k == 5:
                return "(%s | join(%s))" % (self.typed("list", d + 1), self.strlit())
            if k == 6:
                return "(%s | tojson%s)" % (self.typed(pick(["list", "dict", "str", "int", "float"]), d + 1), pick(["", "(indent=2)", "(separators=(',', ':'))", "(sort_keys=true)", "(ensure_ascii=true)"]))
            if k == 7:
                return "%s[%s]" % (self.typed("str", d + 1), pick(["1:", ":3", "::-1", "-2:", "1:-1", "::2", "0", "-1"]))
            if k == 8:
                return "(%s if %s else %s)" % (self.typed("str", d + 1), self.typed("bool", d + 1), self.typed("str", d + 1))
            if k == 9:
                return "(%s %% (%s, %s))" % (pick(["'%s-%d'", "'[%r]{%5.2f}'", "'%s|%s'"]), self.typed("str", d + 1), self.typed("int", d + 1))
            if k == 10:
                return "%s.format(%s, %s)" % (pick(["'{}:{}'", "'{0}/{1}/{0}'", "'{:>4}|{:<3}'"]), self.typed("str", d + 1), self.typed("int", d + 1))
            if k == 11:
                return "%s.split(%s)[%d]" % (self.typed("str", d + 1), pick(["", "' '", "','", "'l'"]), self.r.randint(-1, 0))
            if k == 12:
                return "(%s * %d)" % (self.typed("str", d + 1), self.r.randint(0, 3))
            return "(%s | string)" % self.typed(pick(["int", "float", "list", "dict", "bool"]), d + 1)
        if ty == "int":
            if leaf:
                return pick([str(self.r.randint(-9, 30)), "n", "z", "neg", "l[%d]" % self.r.randint(-3, 2), "d.a",
                             "nested.k.k2[%d].v" % self.r.randint(0, 1)])
            k = self.r.randrange(10)
            if k == 0:
                return "(%s %s %s)" % (self.typed("int", d + 1), pick(["+", "-", "*"]), self.typed("int", d + 1))
            if k == 1:
                return "(%s %s %d)" % (self.typed("int", d + 1), pick(["//", "%"]), pick([1, 2, 3, -2, 7]))
            if k == 2:
                return "(%s | length)" % self.typed(pick(["str", "list", "dict"]), d + 1)
            if k == 3:
                return "(%s | %s)" % (self.typed("list_int", d + 1), pick(["sum", "max", "min", "first", "last"]))
            if k == 4:
                return "(%s | abs)" % self.typed("int", d + 1)
            if k == 5:
                return "%s.%s(%s)" % (self.typed("str", d + 1), pick(["count", "find", "rfind"]), self.strlit())
            if k == 6:
                return "(%s ** %d)" % (pick(["n", "neg", "2", "z", "-3"]), self.r.randint(0, 3))
            if k == 7:
                return "(%s | int)" % self.typed(pick(["str", "float", "bool"]), d + 1)
            if k == 8:
                return "(%s if %s else %s)" % (self.typed("int", d + 1), self.typed("bool", d + 1), self.typed("int", d + 1))
            return "(%s | round | int)" % self.typed("float", d + 1)
        if ty == "float":
            if leaf:
                # ints stay within 64 bits: sgl-c has no big ints (a documented gap)
                return pick(["f", "g", "0.1", "2.5e-3", "1e6", "-0.0", "3.0", "(1/3)"])
            k = self.r.randrange(5)
            if k == 0:
                return "(%s %s %s)" % (self.typed(pick(["int", "float"]), d + 1), pick(["+", "-", "*", "/"]), self.typed("float", d + 1))
            if k == 1:
                return "(%s / %d)" % (self.typed("int", d + 1), pick([1, 2, 3, 7, -4]))
            if k == 2:
                return "(%s | float)" % self.typed(pick(["int", "str"]), d + 1)
            if k == 3:
                return "(%s | round(%d))" % (self.typed("float", d + 1), self.r.randint(0, 3))
            return "(%s // %s)" % (self.typed("float", d + 1), pick(["0.5", "2", "-3"]))
        if ty in ("list", "list_int"):
            if leaf or ty == "list_int":
                if ty == "list_int":
                    return pick(["l", "[1, 2, 3]", "range(%d) | list" % self.r.randint(1, 5), "[n, z, neg]", "(l | sort)", "[%d]" % self.r.randint(0, 9)])
                return pick(["l", "ls", "[]", "msgs", "['a', 'b']", "s.split()", "u.split(' ')", "(d | list)", "[1, 2.5, 'x', none, true]"])
            k = self.r.randrange(9)
            if k == 0:
                return "(%s + %s)" % (self.typed("list", d + 1), self.typed("list", d + 1))
            if k == 1:
                return "(%s | %s)" % (pick(["ls", "l", "[3, 1, 2, 1]", "['b', 'B', 'a']"]), pick(["sort | list", "reverse | list", "unique | list", "sort(reverse=true)", "list", "batch(2) | list", "slice(2) | list"]))
            if k == 2:
                return "(msgs | %s | list)" % pick(["map(attribute='role')", "selectattr('role', 'equalto', 'user')", "rejectattr('role', 'in', ['system', 'tool'])", "map(attribute='content') | map('upper')", "selectattr('tool_calls', 'defined')"])
            if k == 3:
                return "%s[%s]" % (self.typed("list", d + 1), pick(["1:", ":2", "::-1", "-2:"]))
            if k == 4:
                return "(%s | dictsort)" % self.typed("dict", d + 1)
            if k == 5:
                return "(%s.items() | list)" % self.typed("dict", d + 1)
            if k == 6:
                return "[%s, %s]" % (self.typed(pick(["str", "int", "dict"]), d + 1), self.typed(pick(["str", "float", "bool"]), d + 1))
            if k == 7:
                return "(%s | select('odd') | list)" % self.typed("list_int", d + 1)
            return "(%s * 2)" % self.typed("list", d + 1)
        if ty == "dict":
            if leaf:
                return pick(["d", "nested", "nested.k", "msgs[2]", "msgs[2].tool_calls[0].function", "{}", "dict(a=1, b='x')"])
            return "{%s: %s, %s: %s}" % (self.strlit(), self.typed(pick(["str", "int", "list"]), d + 1), self.strlit(), self.typed(pick(["dict", "float", "bool"]), d + 1))
        if ty == "bool":
            if leaf:
                return pick(["t", "no", "true", "false", "(nil is none)", "(undefined_var is defined)", "msgs[2].tool_calls is defined"])
            k = self.r.randrange(8)
            if k == 0:
                t2 = pick(["str", "int", "float", "list"])
                return "(%s %s %s)" % (self.typed(t2, d + 1), pick(["==", "!=", "<", ">=", "<=", ">"]), self.typed(t2 if t2 != "list" else "list", d + 1))
            if k == 1:
                return "(%s in %s)" % (self.typed("str", d + 1), self.typed(pick(["str", "list", "dict"]), d + 1))
            if k == 2:
                return "(%s %s %s)" % (self.typed("bool", d + 1), pick(["and", "or"]), self.typed(pick(["bool", "str", "int"]), d + 1))
            if k == 3:
                return "not %s" % self.typed("any", d + 1)
            if k == 4:
                return "(%s is %s)" % (self.typed("any", d + 1), pick(TESTS0 + ["divisibleby 3", "sameas none", "in [1, 2]", "eq 2"]))
            if k == 5:
                return "%s.%s(%s)" % (self.typed("str", d + 1), pick(["startswith", "endswith"]), pick([self.strlit(), "(%s, %s)" % (self.strlit(), self.strlit())]))
            if k == 6:
                return "%s.%s()" % (self.typed("str", d + 1), pick(["isdigit", "isalpha", "isspace", "islower", "isupper", "istitle", "isalnum"]))
            return "(%s | length > %d)" % (self.typed("list", d + 1), self.r.randint(0, 3))
        return self.typed(self.pick(["str", "int", "float", "list", "dict", "bool"]), d)

    def expr(self):
        return self.typed(self.pick(["str", "str", "int", "float", "list", "dict", "bool"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--show", type=int, default=20)
    ap.add_argument("--typed", action="store_true", help="well-typed expressions (few errors)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    g = TypedGen(rng) if args.typed else Gen(rng)
    env = hf_env.make_env()
    templates, cases, expected = {}, [], []
    for i in range(args.n):
        src = g.template()
        name = "t%d" % i
        templates[name] = src
        status, text = hf_env.render(env, src, VARS)
        cases.append({"template": name, "context_json": json.dumps(VARS, ensure_ascii=False), "epoch": 0})
        expected.append((src, status, text))
    with tempfile.TemporaryDirectory() as tmp:
        cin, cout = os.path.join(tmp, "in.json"), os.path.join(tmp, "out.json")
        with open(cin, "w", encoding="utf-8") as f:
            json.dump({"templates": templates, "cases": cases}, f, ensure_ascii=False)
        subprocess.run([args.driver, cin, cout], check=True)
        results = json.load(open(cout, encoding="utf-8"))
    bad = 0
    n_err = 0
    skipped = 0
    for (src, status, text), res in zip(expected, results):
        if status == "ok" and " at 0x" in text.lower():
            skipped += 1  # Python printed an object address (a generator): not reproducible
            continue
        if status == "ok":
            good = res.get("text") == text
        else:
            n_err += 1
            good = "error" in res
        if not good:
            bad += 1
            if bad <= args.show:
                print("MISMATCH template: %r" % src)
                print("   python: %s %r" % (status, text[:300]))
                print("   c:      %r" % (res.get("text", "ERROR " + res.get("error", ""))[:300]))
    print("diff_fuzz: %d templates (%d Python errors, %d printing object addresses skipped), %d mismatches"
          % (len(expected), n_err, skipped, bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
