"""A process that takes from a provider budget in a loop: ``python -m tests.budget_client URL NAME COUNT [TOKENS]``.

Each reservation is granted, recorded (RPUSH of NAME to ``test:grants``, so Redis keeps the order
in which processes were served) and settled at once with a reply that names the provider's limits,
as a real call would. Used by the fairness test: several of these share one budget.
"""

from __future__ import annotations

import sys

import redis

from jobs.provider_budget import Ask, BudgetConfig, ProviderBudget, Usage

GRANTS = "test:grants"
BASE_URL = "http://budget-client.invalid/v1"
CALL_TOKENS = 100
#: A provider allowing 1000 tokens, refilled in one second: about ten calls a second.
HEADERS = {"x-ratelimit-limit-tokens": "1000", "x-ratelimit-remaining-tokens": "0",
           "x-ratelimit-reset-tokens": "1s"}


def main(url: str, name: str, count: int, tokens: int = CALL_TOKENS) -> None:
    connection = redis.Redis.from_url(url)
    budget = ProviderBudget(connection, BudgetConfig(BASE_URL, "sk-fairness"))
    ask = Ask(prompt_tokens=tokens // 2, max_tokens=tokens // 2, name=f"fair-{tokens}")
    for _ in range(count):
        held = budget.reserve(ask)
        connection.rpush(GRANTS, name)
        budget.settle(held, HEADERS, Usage(tokens // 2, tokens // 2), 200)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), *(int(arg) for arg in sys.argv[4:5]))
