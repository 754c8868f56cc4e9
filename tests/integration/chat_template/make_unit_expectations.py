"""Derives tests/data/chat-templates/hf-jinja-unit-cases.python.json from
hf-jinja-unit-cases.json (huggingface.js's Jinja test cases, whose expected
outputs are JavaScript's): each case is rendered with Python Jinja2 set up
exactly like transformers (hf_env.py), which is the behaviour sgl-c matches.

Output: a JSON array of {name, template, context_json, expected_js, python}
where python is {"ok": text} or {"error": "<ExceptionType>: message"} and
context_json is the context as JSON text (so that int/float typing and NUL
characters survive).

  /usr/bin/python3 tests/integration/chat_template/make_unit_expectations.py
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hf_env  # noqa: E402

DATA = os.path.join(HERE, "..", "..", "data", "chat-templates")


def main():
    src = os.path.join(DATA, "hf-jinja-unit-cases.json")
    dst = os.path.join(DATA, "hf-jinja-unit-cases.python.json")
    cases = json.load(open(src, encoding="utf-8"))
    env = hf_env.make_env()
    out = []
    differ = []
    for c in cases:
        status, text = hf_env.render(env, c["template"], c["context"])
        assert "\0" not in c["template"] and "\0" not in text
        out.append({
            "name": c["name"],
            "template": c["template"],
            "context_json": json.dumps(c["context"], ensure_ascii=False),
            "expected_js": c["expected"],
            "python": {status: text},
        })
        if status != "ok" or text != c["expected"]:
            differ.append(c["name"])
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print("%d cases, %d where Python Jinja2 differs from the JS expectation:" % (len(out), len(differ)))
    print(" ".join(differ))


if __name__ == "__main__":
    main()
