"""Deterministic chat contexts for the chat-template reference test.

contexts(template_name) returns a list of (label, context) pairs, at least 50
per template, covering: with/without system prompt, multi-turn chats, tool
definitions, assistant tool_calls (arguments as a dict or as a JSON string,
one or several calls), tool results, reasoning_content and <think> blocks,
enable_thinking on/off/absent, add_generation_prompt on/off, Unicode and
awkward characters, content given as a list of {type: text} parts, None
content, empty conversations, and template-specific kwargs (date_string,
tools_in_user_message, builtin_tools, custom_tools). Some of these make the
template raise (e.g. Llama 3.1 with two tool calls); the C side must then fail
too.
"""
import json
import random

TEXTS = [
    "Hello!",
    "What's the weather like in Paris today?",
    "  leading and trailing spaces  ",
    "line one\nline two\n\nline four",
    "Unicode: héllo wörld — 你好，世界 — こんにちは — 안녕하세요 — مرحبا — 🤗🚀👍🏽",
    "Quotes ' \" and backslashes \\ and braces {{ }} {% %} {# #}",
    "Tabs\tand\r\ncarriage returns\r and form\x0cfeeds",
    "Special tokens in text: <|im_start|>user <|eot_id|> <think> </tool_call>",
    "Combining: e\u0301 a\u0308 — zero width:\u200b| — nbsp:\u00a0|",
    "Math: 2 ** 10 = 1024, 7 // 2 = 3, 3.14159",
    "A" * 300,
    "Ends with newline\n",
    "\n\nStarts with newlines",
    "",
    "json-ish: {\"a\": [1, 2, {\"b\": null}]}",
]

SYSTEMS = [
    "You are a helpful assistant.",
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
    "  Be concise.  \n",
    "Système: réponds en français. 系统提示。",
]

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["location"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search the web — résumé, 検索",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}, "top_k": {"type": "integer", "default": 5}},
                "required": ["query"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "calculator",
            "description": "Evaluate an arithmetic expression",
            "parameters": {
                "type": "object",
                "properties": {"expression": {"type": "string"}, "precision": {"type": "number", "default": 2.5}},
                "required": ["expression"],
            },
        },
    },
]

ARGUMENTS = [
    {"location": "Paris, France", "unit": "celsius"},
    {"query": "C11 atomics \"memory order\"", "top_k": 3},
    {"expression": "2 + 2 * 3", "precision": 1.0},
    {"nested": {"list": [1, 2.5, True, None, "x"], "empty": {}, "emoji": "🤗"}},
    {},
]

REASONING = [
    "Let me think step by step.\nFirst, 2 + 2 = 4.",
    "\nThe user wants the weather.\n",
    "思考中……",
]


def tool_call(rng, i, as_string):
    args = ARGUMENTS[rng.randrange(len(ARGUMENTS))]
    name = ["get_current_weather", "search", "calculator"][rng.randrange(3)]
    return {
        "id": "call_%d" % i,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False) if as_string else args},
    }


def build(rng, variant):
    """One random conversation; variant picks a family of features."""
    msgs = []
    if rng.random() < 0.5:
        msgs.append({"role": "system", "content": rng.choice(SYSTEMS)})
    turns = rng.randint(1, 4)
    for t in range(turns):
        msgs.append({"role": "user", "content": rng.choice(TEXTS)})
        last = t == turns - 1
        if last and rng.random() < 0.5:
            break
        if variant == "tools" and rng.random() < 0.6:
            n_calls = 1 if rng.random() < 0.7 else 2
            content = None if rng.random() < 0.3 else rng.choice(["", "Let me check.", "I'll call a tool."])
            as_string = rng.random() < 0.4
            msgs.append({
                "role": "assistant",
                "content": content,
                "tool_calls": [tool_call(rng, k, as_string) for k in range(n_calls)],
            })
            for k in range(n_calls):
                msgs.append({
                    "role": "tool",
                    "tool_call_id": "call_%d" % k,
                    "content": rng.choice(['{"temperature": 21.5, "unit": "celsius"}', "42", "no results", "日本語"]),
                })
            msgs.append({"role": "assistant", "content": rng.choice(TEXTS)})
        elif variant == "reasoning":
            r = rng.random()
            if r < 0.33:
                msgs.append({"role": "assistant", "content": rng.choice(TEXTS), "reasoning_content": rng.choice(REASONING)})
            elif r < 0.66:
                msgs.append({"role": "assistant", "content": "<think>\n%s\n</think>\n\n%s" % (rng.choice(REASONING), rng.choice(TEXTS))})
            else:
                msgs.append({"role": "assistant", "content": rng.choice(TEXTS)})
        else:
            msgs.append({"role": "assistant", "content": rng.choice(TEXTS)})
    return msgs


def base_context(rng, msgs, tools=None):
    ctx = {
        "messages": msgs,
        "add_generation_prompt": rng.random() < 0.6,
        "bos_token": "<|begin_of_text|>",
        "eos_token": "<|eot_id|>",
    }
    if tools is not None:
        ctx["tools"] = tools
    elif rng.random() < 0.3:
        ctx["tools"] = None  # transformers passes tools=None when there are none
    return ctx


def fixed_cases():
    """Hand-written edge cases shared by all templates."""
    u = {"role": "user", "content": "Hi"}
    a = {"role": "assistant", "content": "Hello"}
    s = {"role": "system", "content": "Sys"}
    cases = [
        ("single-user-gen", {"messages": [u], "add_generation_prompt": True}),
        ("single-user-nogen", {"messages": [u], "add_generation_prompt": False}),
        ("system-user", {"messages": [s, u], "add_generation_prompt": True, "bos_token": "<s>"}),
        ("user-assistant", {"messages": [u, a], "add_generation_prompt": False}),
        ("empty-messages", {"messages": [], "add_generation_prompt": True}),
        ("content-parts", {"messages": [{"role": "user", "content": [{"type": "text", "text": "part one"},
                                                                      {"type": "text", "text": "part two"}]}],
                           "add_generation_prompt": True}),
        ("none-content", {"messages": [u, {"role": "assistant", "content": None}], "add_generation_prompt": False}),
        ("no-gen-key", {"messages": [u]}),
        ("two-systems", {"messages": [s, u, s, u], "add_generation_prompt": True}),
        ("tools-empty-list", {"messages": [u], "tools": [], "add_generation_prompt": True}),
        ("tools-no-user", {"messages": [s], "tools": TOOLS[:1], "add_generation_prompt": True}),
        ("tool-dict-content", {"messages": [u, {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "f", "arguments": {"x": 1}}}]},
            {"role": "tool", "content": {"result": [1, 2]}}], "tools": TOOLS[:1]}),
        ("ipython-role", {"messages": [u, {"role": "ipython", "content": "out"}], "add_generation_prompt": True}),
        ("float-args", {"messages": [u, {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "calculator", "arguments": {"precision": 2.0, "big": 1e300,
                                                                                   "small": 1e-7, "neg": -0.0}}}]}],
                        "tools": TOOLS[2:]}),
        ("tool-call-no-function-key", {"messages": [u, {"role": "assistant", "content": "x", "tool_calls": [
            {"name": "direct", "arguments": {"a": "b"}}]}], "tools": TOOLS[:1]}),
    ]
    # transformers always passes the special tokens; keep one case without them
    for label, ctx in cases:
        if label != "no-gen-key":
            ctx.setdefault("bos_token", "<|begin_of_text|>")
            ctx.setdefault("eos_token", "<|eot_id|>")
    return cases


def contexts(template_name):
    rng = random.Random("sgl-c/" + template_name)
    out = list(fixed_cases())
    qwen3 = template_name == "qwen3"
    llama31 = template_name in ("llama3.1", "llama3.3")
    llama32 = template_name == "llama3.2"
    for i in range(20):
        msgs = build(rng, "plain")
        out.append(("plain-%d" % i, base_context(rng, msgs)))
    for i in range(20):
        msgs = build(rng, "tools")
        tools = TOOLS[: rng.randint(1, 3)] if rng.random() < 0.8 else None
        ctx = base_context(rng, msgs, tools)
        out.append(("tools-%d" % i, ctx))
    for i in range(12):
        msgs = build(rng, "reasoning")
        ctx = base_context(rng, msgs)
        r = rng.random()
        if r < 0.4:
            ctx["enable_thinking"] = False
        elif r < 0.7:
            ctx["enable_thinking"] = True
        out.append(("reasoning-%d" % i, ctx))
    if qwen3:
        # trailing tool results after the last user turn: multi_step_tool logic
        for i in range(6):
            msgs = [{"role": "user", "content": "Find it"}]
            for k in range(rng.randint(1, 3)):
                msgs.append({"role": "assistant", "content": "<think>step %d</think>calling" % k,
                             "tool_calls": [tool_call(rng, k, rng.random() < 0.5)]})
                msgs.append({"role": "tool", "content": "<tool_response>r%d</tool_response>" % k})
            msgs.append({"role": "user", "content": "<tool_response>done</tool_response>"})
            ctx = base_context(rng, msgs, TOOLS[:2])
            ctx["enable_thinking"] = rng.random() < 0.5
            out.append(("qwen3-multistep-%d" % i, ctx))
    if llama31 or llama32:
        for i in range(8):
            msgs = build(rng, "tools")
            ctx = base_context(rng, msgs, TOOLS[: rng.randint(1, 2)])
            ctx["tools_in_user_message"] = rng.random() < 0.5
            ctx["date_string"] = rng.choice(["01 Jan 2025", "26 Jul 2024"])
            if llama31 and rng.random() < 0.5:
                ctx["builtin_tools"] = ["brave_search", "wolfram_alpha", "code_interpreter"]
                msgs.append({"role": "user", "content": "search it"})
                msgs.append({"role": "assistant", "content": "", "tool_calls": [
                    {"type": "function", "function": {"name": "brave_search", "arguments": {"query": "jinja"}}}]})
            if rng.random() < 0.3:
                ctx["custom_tools"] = TOOLS[2:]
            out.append(("llama-kwargs-%d" % i, ctx))
    return out
