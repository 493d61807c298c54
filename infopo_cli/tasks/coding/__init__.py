"""``task=coding``: collaborative function writing against hidden tests, in a confined sandbox.

Modules: ``task`` (the Task and its Environment), ``protocol`` (prompts and the final-answer
marker), ``catalog`` + ``builtin`` (the built-in task set, data in ``builtin.jsonl``, and its scripted
user), ``colbench`` (ColBench JSONL loading, shared with the built-in set), ``sandbox`` (running submitted code; with the child-side
``_runner``, ``_confine`` and the ``valuecodec`` they share).
"""

from infopo_cli.tasks.coding.task import CodingEnv, CodingTask

__all__ = ["CodingEnv", "CodingTask"]
