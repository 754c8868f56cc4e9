"""Reference test: sgl-c's chat templates against Python Jinja2 (as transformers
sets it up, hf_env.py), byte for byte.

  /usr/bin/python3 run_reference.py --driver BUILD/tests/chat_template_ref \
      --data-dir tests/data/chat-templates [--sglc BUILD/sglc] [--check-unit-expectations]

For every template in the data dir and every context from
gen_conversations.contexts(), Python renders (or raises) and the C driver
renders the same case from JSON text and from cJSON. The outputs must be
identical, and a Python exception must be an error in C. The cJSON path is
compared only where cJSON cannot lose information (no integral floats such as
2.0). With --sglc, a few cases also go through `sglc chat-template`.
Exit status 77 (CTest "skipped") if Jinja2 is not importable.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

try:
    import jinja2  # noqa: F401
except ImportError:
    print("SKIP: jinja2 is not installed for %s (use Debian's /usr/bin/python3)" % sys.executable)
    sys.exit(77)

import gen_conversations  # noqa: E402
import hf_env  # noqa: E402

EPOCH = hf_env.DEFAULT_EPOCH


def cjson_exact(v):
    """True if cJSON keeps the value's Python typing (ints vs floats)."""
    if isinstance(v, float):
        return not (v == int(v) and abs(v) <= 2**53) if v == v and abs(v) != float("inf") else False
    if isinstance(v, int) and not isinstance(v, bool):
        return abs(v) <= 2**53
    if isinstance(v, dict):
        return all(cjson_exact(x) for x in v.values())
    if isinstance(v, list):
        return all(cjson_exact(x) for x in v)
    return True


def feature_context():
    return {"messages": [{"role": "system", "content": "sys prompt"}, {"role": "user", "content": "Hello there friend"},
                         {"role": "assistant", "content": "hi"}, {"role": "user", "content": "bye now"}]}


def show(s, limit=600):
    r = repr(s)
    return r if len(r) <= limit else r[:limit] + "..."


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--sglc")
    ap.add_argument("--check-unit-expectations", action="store_true")
    ap.add_argument("--feature-cases", help="file of templates separated by '----' lines (feature_cases.txt)")
    args = ap.parse_args()

    env = hf_env.make_env(EPOCH)
    names = sorted(f[:-6] for f in os.listdir(args.data_dir) if f.endswith(".jinja"))
    templates = {}
    cases, expected = [], []
    for name in names:
        with open(os.path.join(args.data_dir, name + ".jinja"), encoding="utf-8") as f:
            templates[name] = f.read()
        ctxs = gen_conversations.contexts(name)
        assert len(ctxs) >= 50, (name, len(ctxs))
        for label, ctx in ctxs:
            status, text = hf_env.render(env, templates[name], ctx)
            cases.append({"template": name, "context_json": json.dumps(ctx, ensure_ascii=False), "epoch": EPOCH})
            expected.append((name, label, status, text, cjson_exact(ctx), ctx))

    if args.feature_cases:
        with open(args.feature_cases, encoding="utf-8") as f:
            text = "".join(line for line in f if not line.startswith("#"))
        ctx = feature_context()
        for i, src in enumerate(t.strip("\n") for t in text.split("\n----\n")):
            name = "feature-%d" % i
            templates[name] = src
            status, out = hf_env.render(env, src, ctx)
            if status == "ok" and " at 0x" in out.lower():
                continue  # Python printed an object address: not reproducible
            cases.append({"template": name, "context_json": json.dumps(ctx, ensure_ascii=False), "epoch": EPOCH})
            expected.append(("features", name, status, out, True, ctx))
        names.append("features")

    with tempfile.TemporaryDirectory() as tmp:
        cin, cout = os.path.join(tmp, "cases.json"), os.path.join(tmp, "out.json")
        with open(cin, "w", encoding="utf-8") as f:
            json.dump({"templates": templates, "cases": cases}, f, ensure_ascii=False)
        subprocess.run([args.driver, cin, cout], check=True)
        with open(cout, encoding="utf-8") as f:
            results = json.load(f)

    fails = 0
    per_template = {}
    n_err = 0
    for (name, label, status, text, exact, ctx), res in zip(expected, results):
        stats = per_template.setdefault(name, [0, 0, 0])
        stats[0] += 1
        ok = True
        for key_text, key_err, compare in (("text", "error", True), ("cjson_text", "cjson_error", exact)):
            if not compare:
                continue
            if status == "ok":
                got = res.get(key_text)
                if got != text:
                    ok = False
                    print("FAIL %s/%s (%s): python rendered, C %s" % (name, label, key_text,
                                                                    "failed: " + res.get(key_err, "?") if got is None else "differs"))
                    if got is not None:
                        i = first_diff(text, got)
                        print("   at char %d\n   python: %s\n   c:      %s" % (i, show(text[max(0, i - 80):i + 80]),
                                                                               show(got[max(0, i - 80):i + 80])))
            else:
                if key_err not in res:
                    ok = False
                    print("FAIL %s/%s (%s): python raised %s, C rendered %s" % (name, label, key_text, text,
                                                                                 show(res.get(key_text))))
        if status != "ok":
            stats[2] += 1
            n_err += 1
        if ok:
            stats[1] += 1
        else:
            fails += 1
            print("   context: %s" % show(json.dumps(ctx, ensure_ascii=False), 400))
    for name in names:
        t, p, e = per_template[name]
        print("%-16s %3d cases, %3d identical (%d of them Python errors)" % (name, t, p, e))
    print("reference: %d cases, %d passed, %d failed (%d where Python raises)" % (len(expected), len(expected) - fails,
                                                                                 fails, n_err))

    if args.sglc:
        # the CLI prints exactly the rendering; errors are one line on stderr, exit 1
        picks = [0, 3, len(expected) // 2, len(expected) - 1]
        for i in picks:
            name, label, status, text, _, ctx = expected[i]
            with tempfile.TemporaryDirectory() as tmp:
                cpath = os.path.join(tmp, "ctx.json")
                with open(cpath, "w", encoding="utf-8") as f:
                    json.dump(ctx, f, ensure_ascii=False)
                p = subprocess.run([args.sglc, "chat-template", "--template", os.path.join(args.data_dir, name + ".jinja"),
                                    "--context", cpath], capture_output=True,
                                   env=dict(os.environ, SGLC_STRFTIME_NOW_EPOCH=str(EPOCH)))
            good = (p.returncode == 0 and p.stdout.decode("utf-8") == text) if status == "ok" else \
                (p.returncode == 1 and p.stdout == b"" and p.stderr.count(b"\n") == 1)
            print("%s sglc chat-template %s/%s" % ("ok  " if good else "FAIL", name, label))
            if not good:
                fails += 1
                print("   rc=%d stderr=%s" % (p.returncode, show(p.stderr.decode("utf-8", "replace"))))

    if args.check_unit_expectations:
        path = os.path.join(args.data_dir, "hf-jinja-unit-cases.python.json")
        committed = json.load(open(path, encoding="utf-8"))
        src = json.load(open(os.path.join(args.data_dir, "hf-jinja-unit-cases.json"), encoding="utf-8"))
        stale = 0
        for c, d in zip(src, committed):
            status, text = hf_env.render(env, c["template"], c["context"])
            if d["name"] != c["name"] or d["python"] != {status: text}:
                stale += 1
                print("STALE unit expectation %s" % c["name"])
        print("unit expectations: %d cases, %d stale" % (len(committed), stale))
        fails += stale + (len(src) != len(committed))

    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
