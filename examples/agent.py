"""A tool loop against ponder serve with the official openai SDK: a calculator, and one thinking budget for the turn.

    ponder serve &                      # the embedded default model, on http://127.0.0.1:8000
    python examples/agent.py            # or: --base-url URL --question "..." --turn-budget 96

Each step sends the chat so far; a call is evaluated and its result sent back, until the model
answers. ``--force N`` makes the first N steps call a tool (``tool_choice: "required"``), for models
too small to call one on their own; ponder then holds the call to the calculator's schema, so it
always parses. The turn budget (``thinking.turn_max_tokens``) caps the thinking of all steps
together: ponder counts the thinking the chat already holds, and each step gets what is left.
"""

from __future__ import annotations

import argparse
import ast
import json
import operator

import openai

CALCULATOR = {"type": "function", "function": {
    "name": "calculator", "description": "Evaluate an arithmetic expression such as 17 * 23",
    "parameters": {"type": "object", "properties": {"expression": {"type": "string", "maxLength": 40}},
                   "required": ["expression"]}}}
OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
             ast.USub: operator.neg, ast.UAdd: operator.pos}


def calculate(expression: str) -> str:
    """The value of an arithmetic expression (numbers and + - * /), or what is wrong with it."""
    def value(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
            return OPERATORS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in OPERATORS:
            return OPERATORS[type(node.op)](value(node.operand))
        raise ValueError("only numbers and + - * / are allowed")
    try:
        return str(value(ast.parse(expression, mode="eval").body))
    except (SyntaxError, ValueError, ZeroDivisionError) as err:
        return f"error: {err}"


def run(client: openai.OpenAI, question: str, turn_budget: int, force: int, max_steps: int = 5) -> dict:
    """The loop; returns the answer, the calls made and the turn's thinking as ponder counted it."""
    chat, calls, turn = [{"role": "user", "content": question}], [], None
    for step in range(max_steps):
        reply = client.chat.completions.create(
            model="default", messages=chat, tools=[CALCULATOR], max_tokens=256,
            tool_choice="required" if step < force else "auto",
            extra_body={"thinking": {"turn_max_tokens": turn_budget}})
        message = reply.choices[0].message
        turn = reply.model_extra["ponder"]["turn"]
        print(f"step {step + 1}: thought {reply.usage.completion_tokens_details.reasoning_tokens} tokens "
              f"(turn: {turn['spent']} of {turn_budget})")
        if not message.tool_calls:
            return {"answer": message.content, "calls": calls, "turn": turn}
        chat.append({"role": "assistant", "content": message.content, "reasoning_content": message.reasoning_content,
                     "tool_calls": [c.model_dump() for c in message.tool_calls]})
        for call in message.tool_calls:
            expression = json.loads(call.function.arguments).get("expression", "")
            result = calculate(expression)
            calls.append({"expression": expression, "result": result})
            print(f"  calculator({expression!r}) = {result}")
            chat.append({"role": "tool", "tool_call_id": call.id, "content": result})
    return {"answer": None, "calls": calls, "turn": turn}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000/v1")
    parser.add_argument("--question", default="What is 17 * 23 plus 45 * 12? Use the calculator for each product.")
    parser.add_argument("--turn-budget", type=int, default=96, help="thinking tokens for the whole turn")
    parser.add_argument("--force", type=int, default=2, help="steps that must call a tool (0: the model decides)")
    args = parser.parse_args()
    client = openai.OpenAI(base_url=args.base_url, api_key="unused")
    outcome = run(client, args.question, args.turn_budget, args.force)
    print(f"answer: {outcome['answer']}")
    print(json.dumps({"calls": outcome["calls"], "turn": outcome["turn"]}))


if __name__ == "__main__":
    main()
