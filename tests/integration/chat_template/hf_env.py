"""The Jinja2 environment that Hugging Face transformers renders chat templates with.

Written from the behaviour of transformers' `_compile_jinja_template` /
`render_jinja_template` (transformers 4.4x): ImmutableSandboxedEnvironment with
trim_blocks, lstrip_blocks, the loopcontrols extension and a `{% generation %}`
tag (rendered as a plain pass-through when assistant masks are not requested),
a `tojson` filter that is json.dumps (no HTML escaping, ensure_ascii=False),
and the globals raise_exception(msg) and strftime_now(fmt).

Determinism: strftime_now formats a fixed instant, SGLC_STRFTIME_NOW_EPOCH
seconds (UTC), the same instant `sglc chat-template` uses when that variable
is set. Run with Debian's /usr/bin/python3 (it has jinja2).
"""
import json
import os
from datetime import datetime, timezone

import jinja2
import jinja2.ext
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

DEFAULT_EPOCH = 1721952000  # 2024-07-26 00:00:00 UTC


class GenerationTag(jinja2.ext.Extension):
    """`{% generation %}...{% endgeneration %}`: renders its body unchanged."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_env(epoch=None):
    if epoch is None:
        epoch = int(os.environ.get("SGLC_STRFTIME_NOW_EPOCH", DEFAULT_EPOCH))

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.fromtimestamp(epoch, timezone.utc).strftime(fmt)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTag, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(env, source, context):
    """Returns ("ok", text) or ("error", "<ExceptionType>: message").
    Compiled templates are cached on the environment."""
    cache = env.__dict__.setdefault("_sglc_compiled", {})
    try:
        if source not in cache:
            cache[source] = env.from_string(source)
        return "ok", cache[source].render(**context)
    except Exception as e:  # noqa: BLE001 - every failure is an expected outcome here
        return "error", "%s: %s" % (type(e).__name__, str(e).split("\n")[0])
